"""Stage scaling_target@<model>-<itask>-<target>-<seed>: English target training from a
scaling-study model's intermediate checkpoint (study 3, xstilts.studies.scaling)."""

import argparse

from xstilts.stage import choice, stage_setup
from xstilts.studies.scaling import run_scaling_target

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model")
    ap.add_argument("itask")
    ap.add_argument("target")
    ap.add_argument("seed")
    args = ap.parse_args()
    p = stage_setup(f"scaling_target@{args.model}-{args.itask}-{args.target}-{args.seed}")
    choice(args.model, p.studies.scaling.models, "scaling model")
    choice(args.itask, p.studies.scaling.itasks, "scaling intermediate task")
    choice(args.target, p.studies.scaling.targets, "scaling target task")
    choice(args.seed, p.seeds, "seed")
    run_scaling_target(p, args.model, args.itask, args.target, int(args.seed))
