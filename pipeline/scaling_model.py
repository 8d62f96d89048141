"""Stage scaling_model@<model>: a scaling-study base model as a transformers folder (its
vocabulary trimmed like models/base; models/base cut to fewer layers when the spec is the same
checkpoint) and its parameter counts (study 3, xstilts.core.prepare_model)."""

from xstilts.core.host import run_in_host

run_in_host(__name__)  # a warm stage host runs this stage when one is up (xstilts.core.host)

import argparse

from xstilts.core.prepare_model import prepare_scaling_model
from xstilts.core.stage import choice, stage_setup

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model")
    args = ap.parse_args()
    p = stage_setup(f"scaling_model@{args.model}")
    choice(args.model, p.studies.scaling.models, "scaling model")
    prepare_scaling_model(p, args.model)
