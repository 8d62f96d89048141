"""Stage multilingual_target@<variant>-<target>-<seed>: English target training from a
multilingual-study intermediate checkpoint (study 2, xstilts.studies.multilingual)."""

import argparse

from xstilts.stage import choice, stage_setup
from xstilts.studies.multilingual import run_multilingual_target

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("variant")
    ap.add_argument("target")
    ap.add_argument("seed")
    args = ap.parse_args()
    p = stage_setup(f"multilingual_target@{args.variant}-{args.target}-{args.seed}")
    choice(args.variant, list(p.studies.multilingual.variants), "multilingual variant")
    choice(args.target, p.studies.multilingual.targets, "multilingual target task")
    choice(args.seed, p.seeds, "seed")
    run_multilingual_target(p, args.variant, args.target, int(args.seed))
