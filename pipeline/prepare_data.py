"""Stage prepare_data@<task>: load one task into its canonical Arrow dataset + example counts."""

import argparse
import json
from pathlib import Path

from xstilts.cli import choice, stage_setup
from xstilts.data import prepare_task
from xstilts.phases import DATA, fresh_dir

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("task")
    args = ap.parse_args()
    p = stage_setup(f"prepare_data@{args.task}")
    choice(args.task, list(p.tasks), "task")
    out = fresh_dir(DATA / args.task)
    counts = prepare_task(args.task, p.tasks[args.task], out, seed=p.seeds[0])
    metrics = Path("metrics/data") / f"{args.task}.json"
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps(counts, indent=1, sort_keys=True))
