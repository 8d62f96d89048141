"""Stage volume_evaluate@<itask>-<fraction>-<target>-<seed>: zero-shot scores of a volume cell
on every language's test split (study 1, xstilts.studies.volume)."""

import argparse

from xstilts.stage import choice, stage_setup
from xstilts.studies.volume import run_volume_evaluate

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("itask")
    ap.add_argument("fraction")
    ap.add_argument("target")
    ap.add_argument("seed")
    args = ap.parse_args()
    p = stage_setup(f"volume_evaluate@{args.itask}-{args.fraction}-{args.target}-{args.seed}")
    choice(args.itask, p.studies.volume.itasks, "volume intermediate task")
    choice(str(float(args.fraction)), p.studies.volume.fractions, "fraction")
    choice(args.target, p.studies.volume.targets, "volume target task")
    choice(args.seed, p.seeds, "seed")
    run_volume_evaluate(p, args.itask, args.fraction, args.target, int(args.seed))
