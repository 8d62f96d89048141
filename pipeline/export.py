"""Stage export@<itask>-<seed>: test predictions in the XTREME submission layout.

Writes submission/<itask>/seed<s>/<task>/test-<lang>.{tsv,json} for every target and retrieval
task from predictions/<itask>/<task>/seed<s>/ (formats: xstilts.core.export).
"""

from xstilts.core.host import run_in_host

run_in_host(__name__)  # a warm stage host runs this stage when one is up (xstilts.core.host)

import argparse
import logging

from xstilts.core.export import export_cell
from xstilts.core.stage import choice, stage_setup

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("itask")
    ap.add_argument("seed")
    args = ap.parse_args()
    p = stage_setup(f"export@{args.itask}-{args.seed}")
    choice(args.itask, p.intermediate.tasks, "intermediate task")
    choice(args.seed, p.seeds, "seed")
    files = export_cell(args.itask, int(args.seed),
                        [*p.target.tasks, *p.evaluate.retrieval_tasks])
    logging.info("wrote %d submission files", len(files))
