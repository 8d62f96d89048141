"""Stage scaling_evaluate@<model>-<itask>-<target>-<seed>: zero-shot scores of a scaling-study
cell on every language's test split (study 3, xstilts.studies.scaling)."""

import argparse

from xstilts.stage import choice, stage_setup
from xstilts.studies.scaling import run_scaling_evaluate

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model")
    ap.add_argument("itask")
    ap.add_argument("target")
    ap.add_argument("seed")
    args = ap.parse_args()
    p = stage_setup(f"scaling_evaluate@{args.model}-{args.itask}-{args.target}-{args.seed}")
    choice(args.model, p.studies.scaling.models, "scaling model")
    choice(args.itask, p.studies.scaling.itasks, "scaling intermediate task")
    choice(args.target, p.studies.scaling.targets, "scaling target task")
    choice(args.seed, p.seeds, "seed")
    run_scaling_evaluate(p, args.model, args.itask, args.target, int(args.seed))
