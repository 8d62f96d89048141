"""MLflow logging with the client API: one parent run per intermediate task and seed, one nested
child run per target task; metric keys `<task>/<metric>/<lang>`.

Stages run as separate processes, so each checkpoint folder records its run id in `run.json`
and the next stage logs to (or nests under) that run.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path

from xstilts.params import TrackingParams

log = logging.getLogger(__name__)
RUN_FILE = "run.json"


def tracking_uri(tp: TrackingParams) -> str:
    """`MLFLOW_TRACKING_URI` if set, else params' `tracking.uri`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or tp.uri


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class Tracker:
    """Thin wrapper over `MlflowClient` for the pipeline's run hierarchy."""

    def __init__(self, tp: TrackingParams):
        from mlflow.tracking import MlflowClient  # imported here: mlflow is slow to import

        self.uri = tracking_uri(tp)
        self.client = MlflowClient(tracking_uri=self.uri)
        exp = self.client.get_experiment_by_name(tp.experiment)
        self.experiment_id = (exp.experiment_id if exp is not None
                              else self.client.create_experiment(tp.experiment))

    def start(self, name: str, tags: dict[str, str], parent: str | None = None) -> str:
        tags = {**tags, "git_commit": git_commit()}
        if parent:
            tags["mlflow.parentRunId"] = parent
        run = self.client.create_run(self.experiment_id, run_name=name, tags=tags)
        return run.info.run_id

    def exists(self, run_id: str | None) -> bool:
        if not run_id:
            return False
        try:
            return self.client.get_run(run_id).info.lifecycle_stage == "active"
        except Exception:  # noqa: BLE001 - a deleted or foreign run id: start a new run
            return False

    def log_params(self, run_id: str, params: dict) -> None:
        flat = {k: str(v)[:6000] for k, v in _flatten(params).items()}
        items = list(flat.items())
        from mlflow.entities import Param

        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=[Param(k, v) for k, v in items[i:i + 100]])

    def log_metrics(self, run_id: str, values: dict[str, float], step: int = 0) -> None:
        import time

        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        ms = [Metric(k, float(v), ts, step) for k, v in values.items()]
        for i in range(0, len(ms), 500):
            self.client.log_batch(run_id, metrics=ms[i:i + 500])

    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    def finish(self, run_id: str) -> None:
        self.client.set_terminated(run_id)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def write_run_id(ckpt_dir: Path, run_id: str, uri: str) -> None:
    (Path(ckpt_dir) / RUN_FILE).write_text(json.dumps({"run_id": run_id, "tracking_uri": uri}))


def read_run_id(ckpt_dir: Path) -> str | None:
    f = Path(ckpt_dir) / RUN_FILE
    if not f.is_file():
        return None
    return json.loads(f.read_text()).get("run_id")


def metric_key(task: str, metric: str, lang: str) -> str:
    return f"{task}/{metric}/{lang}"
