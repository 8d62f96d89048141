"""The `xstilts` command (check, tune, pin, tracking-sync); stage set-up is in `xstilts.stage`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from xstilts.params import ParamsError, load_params


def build_parser() -> argparse.ArgumentParser:
    """The `xstilts` command line (check, tune, pin, tracking-sync); parsing runs nothing."""
    parser = argparse.ArgumentParser(prog="xstilts", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    check = sub.add_parser("check", help="validate params.yaml and print the study grid")
    check.add_argument("--params", default="params.yaml")
    from xstilts.tune import add_parser as add_tune_parser

    add_tune_parser(sub)  # xstilts tune: Optuna search on the English dev set
    from xstilts.pin import add_parser as add_pin_parser

    add_pin_parser(sub)  # xstilts pin: hub revisions of params.yaml pinned to commit shas
    sync = sub.add_parser(
        "tracking-sync", help="replay MLflow calls spooled during a tracking-server outage",
        description="Replay, oldest first, every spool of tracking calls that could not reach "
                    "the MLflow server (see xstilts.tracking); each goes to the tracking URI it "
                    "was written for unless --uri is given. Exit 0 when nothing is left.")
    sync.add_argument("--spool", default=None,
                      help="spool folder (default $XSTILTS_MLFLOW_SPOOL or .xstilts/mlflow-spool)")
    sync.add_argument("--uri", default=None, help="send every spool to this tracking URI")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.cmd in ("tune", "pin"):
        return args.func(args)
    if args.cmd == "tracking-sync":
        return _tracking_sync(args.spool, args.uri)
    if args.cmd == "check":
        try:
            p = load_params(args.params)
        except ParamsError as e:
            print(e, file=sys.stderr)
            return 2
        grid = {"intermediate": p.intermediate.tasks, "target": p.target.tasks,
                "retrieval": p.evaluate.retrieval_tasks, "seeds": p.seeds}
        print(json.dumps(grid, indent=1))
        print(f"{Path(args.params)}: OK")
    return 0


def _tracking_sync(spool: str | None, uri: str | None) -> int:
    from xstilts.tracking import pending_spools, spool_root, sync_spools

    logging.basicConfig(level=logging.INFO, format="%(asctime)s [tracking-sync] %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    root = Path(spool) if spool else spool_root()
    if spool and not root.is_dir():
        print(f"error: --spool {spool}: no such folder", file=sys.stderr)
        return 2
    if not pending_spools(root):
        print(f"{root}: no spooled tracking calls")
        return 0
    ok, left = sync_spools(root, uri)
    print(f"{root}: {ok} spool(s) replayed, {left} left")
    if left:
        print("error: the tracking server is still unreachable (or a spool refers to a run of "
              "one not replayed yet); run `xstilts tracking-sync` again later", file=sys.stderr)
        return 1
    return 0
