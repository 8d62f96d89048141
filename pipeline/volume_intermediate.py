"""Stage volume_intermediate@<itask>-<fraction>-<seed>: English intermediate training on a
nested subset (fraction) of the train split (study 1, xstilts.studies.volume)."""

import argparse

from xstilts.stage import choice, stage_setup
from xstilts.studies.volume import run_volume_intermediate

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("itask")
    ap.add_argument("fraction")
    ap.add_argument("seed")
    args = ap.parse_args()
    p = stage_setup(f"volume_intermediate@{args.itask}-{args.fraction}-{args.seed}")
    choice(args.itask, p.studies.volume.itasks, "volume intermediate task")
    choice(str(float(args.fraction)), p.studies.volume.fractions, "fraction")
    choice(args.seed, p.seeds, "seed")
    run_volume_intermediate(p, args.itask, args.fraction, int(args.seed))
