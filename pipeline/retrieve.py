"""Stage retrieve@<itask>-<target>-<seed>: retrieval on the intermediate checkpoint, untrained."""

import argparse

from xstilts.phases import run_retrieval
from xstilts.stage import choice, stage_setup

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("itask")
    ap.add_argument("target")
    ap.add_argument("seed")
    args = ap.parse_args()
    p = stage_setup(f"retrieve@{args.itask}-{args.target}-{args.seed}")
    choice(args.itask, p.intermediate.tasks, "intermediate task")
    choice(args.target, p.evaluate.retrieval_tasks, "retrieval task")
    choice(args.seed, p.seeds, "seed")
    run_retrieval(p, args.itask, args.target, int(args.seed))
