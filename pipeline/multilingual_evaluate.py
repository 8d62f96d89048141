"""Stage multilingual_evaluate@<variant>-<target>-<seed>: zero-shot EM/F1 (and per-example
predictions) of a multilingual-study cell on every language's test split (study 2)."""

import argparse

from xstilts.stage import choice, stage_setup
from xstilts.studies.multilingual import run_multilingual_evaluate

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("variant")
    ap.add_argument("target")
    ap.add_argument("seed")
    args = ap.parse_args()
    p = stage_setup(f"multilingual_evaluate@{args.variant}-{args.target}-{args.seed}")
    choice(args.variant, list(p.studies.multilingual.variants), "multilingual variant")
    choice(args.target, p.studies.multilingual.targets, "multilingual target task")
    choice(args.seed, p.seeds, "seed")
    run_multilingual_evaluate(p, args.variant, args.target, int(args.seed))
