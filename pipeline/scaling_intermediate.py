"""Stage scaling_intermediate@<model>-<itask>-<seed>: English intermediate training of one
scaling-study model (`none` copies its base) (study 3, xstilts.studies.scaling)."""

import argparse

from xstilts.stage import choice, stage_setup
from xstilts.studies.scaling import run_scaling_intermediate

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model")
    ap.add_argument("itask")
    ap.add_argument("seed")
    args = ap.parse_args()
    p = stage_setup(f"scaling_intermediate@{args.model}-{args.itask}-{args.seed}")
    choice(args.model, p.studies.scaling.models, "scaling model")
    choice(args.itask, p.studies.scaling.itasks, "scaling intermediate task")
    choice(args.seed, p.seeds, "seed")
    run_scaling_intermediate(p, args.model, args.itask, int(args.seed))
