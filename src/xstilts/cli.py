"""Command-line entry points: shared set-up for pipeline scripts and the `xstilts` command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from xstilts.params import Params, ParamsError, load_params


def stage_setup(stage: str, params_path: str = "params.yaml") -> Params:
    """Logging that names the stage, offline hub settings, and validated params (or exit 2)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from xstilts import distributed

    label = f"{stage} rank {os.environ.get('RANK', '?')}" if distributed.launched() else stage
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s [{label}] %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("alembic", "mlflow", "httpx", "urllib3", "datasets", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    try:
        p = load_params(params_path)
    except ParamsError as e:
        print(f"[{stage}] {e}", file=sys.stderr)
        raise SystemExit(2) from None
    _distributed_setup(stage, p)
    return p


def _distributed_setup(stage: str, p: Params) -> None:
    """Inside a launched process: the DDP process group. Else, for a training stage with
    `runtime.num_processes > 1` or `runtime.accelerate_config`: start it again under the
    launcher (this process is replaced, see `xstilts.distributed.launch_command`)."""
    from xstilts import distributed

    kind = stage.split("@", 1)[0]
    if distributed.launched():
        if kind not in distributed.STAGES:
            print(f"[{stage}] error: only the {' and '.join(distributed.STAGES)} stages run "
                  f"in several processes; run this stage as one process", file=sys.stderr)
            raise SystemExit(2)
        distributed.init(p.runtime.device, p.runtime.threads)
        if not distributed.is_main():  # rank 0 logs for the run
            logging.getLogger().setLevel(logging.WARNING)
    elif distributed.wants_launch(p.runtime) and kind in distributed.STAGES:
        try:
            distributed.relaunch(p.runtime)
        except FileNotFoundError as e:
            print(f"[{stage}] error: {e}", file=sys.stderr)
            raise SystemExit(2) from None


def choice(value: str, allowed: list[str] | list[int], what: str) -> str:
    """Validate a CLI argument against the configured names."""
    if value not in [str(a) for a in allowed]:
        print(f"error: {what} {value!r} is not configured in params.yaml; "
              f"choose one of {list(allowed)}", file=sys.stderr)
        raise SystemExit(2)
    return value


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
