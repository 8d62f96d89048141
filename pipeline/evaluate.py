"""Stage evaluate@<itask>-<target>-<seed>: zero-shot evaluation in every configured language."""

import argparse

from xstilts.phases import run_evaluate
from xstilts.stage import choice, stage_setup

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("itask")
    ap.add_argument("target")
    ap.add_argument("seed")
    args = ap.parse_args()
    p = stage_setup(f"evaluate@{args.itask}-{args.target}-{args.seed}")
    choice(args.itask, p.intermediate.tasks, "intermediate task")
    choice(args.target, p.target.tasks, "target task")
    choice(args.seed, p.seeds, "seed")
    run_evaluate(p, args.itask, args.target, int(args.seed))
