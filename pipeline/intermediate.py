"""Stage intermediate@<itask>-<seed>: English intermediate training (`none`: the base model)."""

import argparse

from xstilts.phases import run_intermediate
from xstilts.stage import choice, stage_setup

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("itask")
    ap.add_argument("seed")
    args = ap.parse_args()
    p = stage_setup(f"intermediate@{args.itask}-{args.seed}")
    choice(args.itask, p.intermediate.tasks, "intermediate task")
    choice(args.seed, p.seeds, "seed")
    run_intermediate(p, args.itask, int(args.seed))
