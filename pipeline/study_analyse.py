"""Stage study@<name>: one research study's analysis (xstilts.analysis.studies) on the
pipeline's metric files; writes reports/studies/<name>.{md,json,png,csv} and one MLflow parent
run."""

from xstilts.core.host import run_in_host

run_in_host(__name__)  # a warm stage host runs this stage when one is up (xstilts.core.host)

import argparse
from pathlib import Path

from xstilts.analysis.studies import run_study
from xstilts.core.stage import choice, stage_setup

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("study")
    ap.add_argument("--out", default="reports/studies", help="output folder")
    ap.add_argument("--no-mlflow", action="store_true", help="skip the MLflow run")
    args = ap.parse_args()
    p = stage_setup(f"study@{args.study}")
    choice(args.study, p.studies.run, "study")
    run_study(p, args.study, Path(args.out), log=not args.no_mlflow)
