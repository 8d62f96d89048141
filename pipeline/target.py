"""Stage target@<itask>-<target>-<seed>: fine-tune on the English target task, fresh head."""

import argparse

from xstilts.phases import run_target
from xstilts.stage import choice, stage_setup

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("itask")
    ap.add_argument("target")
    ap.add_argument("seed")
    args = ap.parse_args()
    p = stage_setup(f"target@{args.itask}-{args.target}-{args.seed}")
    choice(args.itask, p.intermediate.tasks, "intermediate task")
    choice(args.target, p.target.tasks, "target task")
    choice(args.seed, p.seeds, "seed")
    run_target(p, args.itask, args.target, int(args.seed))
