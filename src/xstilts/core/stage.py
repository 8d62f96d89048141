"""Set-up shared by every stage script and command: logging that names the stage, offline hub
settings, validated params (or exit 2), the DDP process group, CLI argument checks."""

from __future__ import annotations

import logging
import os
import sys

from xstilts.core.params import Params, ParamsError, load_params


def stage_setup(stage: str, params_path: str = "params.yaml") -> Params:
    """Logging that names the stage, offline hub settings, and validated params (or exit 2)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from xstilts.core import distributed

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
    launcher (this process is replaced, see `xstilts.core.distributed.launch_command`)."""
    from xstilts.core import distributed

    kind = stage.split("@", 1)[0]
    if distributed.launched():
        if kind not in distributed.STAGES:
            print(f"[{stage}] error: only the training stages "
                  f"({', '.join(distributed.STAGES)}) run in several processes; run this stage "
                  "as one process", file=sys.stderr)
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
