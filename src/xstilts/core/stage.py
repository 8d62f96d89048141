"""Set-up shared by every stage script and command: logging that names the stage, offline hub
settings, validated params (or exit 2), the DDP process group, CLI argument checks."""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import time

from xstilts.core import host
from xstilts.core.params import Params, ParamsError, load_params

PROBE = "XSTILTS_STAGE_PROBE"  # set: a stage exits after its set-up (start-up benchmark)
PROBE_MODULES = ("torch", "transformers", "datasets", "mlflow", "xstilts.core.cell")


def stage_setup(stage: str, params_path: str = "params.yaml") -> Params:
    """Logging that names the stage, offline hub settings, and validated params (or exit 2)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from xstilts.core import launch

    label = f"{stage} rank {os.environ.get('RANK', '?')}" if launch.launched() else stage
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s [{label}] %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("alembic", "mlflow", "httpx", "urllib3", "datasets", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _quiet_hf()
    try:
        p = load_params(params_path)
    except ParamsError as e:
        print(f"[{stage}] {e}", file=sys.stderr)
        raise SystemExit(2) from None
    _distributed_setup(stage, p)
    if host.started_as_script():
        # the imports so far are never garbage: the collector skips them, during the stage and
        # in the final collection at exit (~1.7 s with torch, transformers and MLflow imported)
        gc.freeze()
    if os.environ.get(PROBE):  # benchmarks/stage_startup.py: when set-up ended, what is imported
        print(json.dumps({"setup_done": time.time(),
                          "imported": [m for m in PROBE_MODULES if m in sys.modules]}), flush=True)
        raise SystemExit(0)
    return p


def _quiet_hf() -> None:
    """No datasets/transformers progress bars, transformers logs errors only. A library the
    stage has imported already is told so; one it has not is told by its environment variables
    (read when it is imported), so a stage that never uses it does not pay for its import."""
    if "datasets" in sys.modules:
        sys.modules["datasets"].disable_progress_bars()
    else:
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    else:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _distributed_setup(stage: str, p: Params) -> None:
    """Inside a launched process: the DDP process group. Else, for a training stage with
    `runtime.num_processes > 1` or `runtime.accelerate_config`: start it again under the
    launcher (this process is replaced, see `xstilts.core.launch.launch_command`)."""
    from xstilts.core import launch

    kind = stage.split("@", 1)[0]
    if launch.launched():
        if kind not in launch.STAGES:
            print(f"[{stage}] error: only the training stages "
                  f"({', '.join(launch.STAGES)}) run in several processes; run this stage "
                  "as one process", file=sys.stderr)
            raise SystemExit(2)
        from xstilts.core import distributed

        distributed.init(p.runtime.device, p.runtime.threads)
        if not distributed.is_main():  # rank 0 logs for the run
            logging.getLogger().setLevel(logging.WARNING)
    elif launch.wants_launch(p.runtime) and kind in launch.STAGES:
        try:
            launch.relaunch(p.runtime)
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
