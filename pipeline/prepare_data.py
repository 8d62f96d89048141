"""Stage prepare_data@<task>: one task as canonical Arrow data + its fingerprint and counts."""

from xstilts.core.host import run_in_host

run_in_host(__name__)  # a warm stage host runs this stage when one is up (xstilts.core.host)

import argparse
import shutil
from pathlib import Path

from xstilts.core.data import prepare_task
from xstilts.core.fingerprint import write_data_fingerprint
from xstilts.core.paths import DATA, fresh_dir, write_json
from xstilts.core.stage import choice, stage_setup

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("task")
    args = ap.parse_args()
    p = stage_setup(f"prepare_data@{args.task}")
    choice(args.task, list(p.tasks), "task")
    # prepared into a staging folder that replaces the output only once every split is valid:
    # a bad data file leaves the previous output as it was
    out, staging = DATA / args.task, fresh_dir(DATA / f".{args.task}.staging")
    try:
        counts = prepare_task(args.task, p.tasks[args.task], staging, seed=p.seeds[0])
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    # what the stages reading this task depend on (dvc.yaml): one small file, not the folder
    write_data_fingerprint(args.task)
    write_json(Path("metrics/data") / f"{args.task}.json", counts)
