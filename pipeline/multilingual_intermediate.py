"""Stage multilingual_intermediate@<variant>-<seed>: intermediate training on a variant's pooled
train splits in its languages, selected on English dev (study 2, xstilts.studies.multilingual)."""

import argparse

from xstilts.stage import choice, stage_setup
from xstilts.studies.multilingual import run_multilingual_intermediate

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("variant")
    ap.add_argument("seed")
    args = ap.parse_args()
    p = stage_setup(f"multilingual_intermediate@{args.variant}-{args.seed}")
    choice(args.variant, list(p.studies.multilingual.variants), "multilingual variant")
    choice(args.seed, p.seeds, "seed")
    run_multilingual_intermediate(p, args.variant, int(args.seed))
