"""Stage <kind>@<args>: one phase of one cell, for every family (`xstilts.core.families`):
intermediate, target, evaluate, retrieve of the main grid and the studies' volume_*,
multilingual_* and scaling_* stages, all run by `xstilts.core.cell`."""

from xstilts.core.host import run_in_host

run_in_host(__name__)  # a warm stage host runs this stage when one is up (xstilts.core.host)

import argparse

from xstilts.core.families import KINDS, check_args, run_stage
from xstilts.core.stage import stage_setup

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__,
                                 epilog="; ".join(f"{k} {' '.join(f'<{a}>' for a in v.args)}"
                                                  for k, v in KINDS.items()))
    ap.add_argument("kind", choices=list(KINDS), help="the stage family in dvc.yaml")
    ap.add_argument("args", nargs="*", help="the stage's arguments (see below)")
    a = ap.parse_args()
    want = KINDS[a.kind].args
    if len(a.args) != len(want):
        ap.error(f"{a.kind} takes {len(want)} arguments ({' '.join(want)}), got {len(a.args)}")
    p = stage_setup(f"{a.kind}@{'-'.join(a.args)}")
    check_args(p, a.kind, a.args)
    run_stage(p, a.kind, *a.args)
