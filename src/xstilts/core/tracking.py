"""MLflow logging with the client API: one parent run per intermediate task and seed, one nested
child run per target task; metric keys `<task>/<metric>/<lang>`.

Stages run as separate processes, so each checkpoint folder records its run id in `run.json`
and the next stage logs to (or nests under) that run.

**Tracking outages.** A tracking server that does not answer never stops training. Every call
that fails because the server is unreachable (connection refused, timeout, 5xx after MLflow's
own short retries) is appended to a spool, `<spool dir>/<time>-<pid>-<id>.jsonl` (one JSON object
per line, written with a single append and fsync; a torn last line is ignored). Once something
is spooled, later calls of the process go to the spool too (order is kept) and the spool is
replayed, in order, at the next call after `retry_interval` seconds and at `finish`. Runs created
during the outage get a local id (`local-...`) that is mapped to the server's id when replayed
(`ids.json` in the spool dir). Every run that had spooled calls gets the tag `tracking_outage`
once replayed. If the server is still down at `finish`, the stage still succeeds: a warning names
the spool, which stays until `xstilts tracking-sync` replays it. Replays are idempotent for
metrics (same key, value, step and timestamp are not stored twice), tags and params.

Spool dir: `$XSTILTS_MLFLOW_SPOOL`, else `.xstilts/mlflow-spool` under the working directory (the
repository root for DVC stages).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from xstilts.core.params import TrackingParams

log = logging.getLogger(__name__)
RUN_FILE = "run.json"
LOCAL_PREFIX = "local-"
OUTAGE_TAG = "tracking_outage"
IDS_FILE = "ids.json"

# Short HTTP retries so an outage costs seconds per attempt, not minutes (MLflow's defaults:
# 7 retries with backoff factor 2 and a 120 s timeout). Set these variables to override.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
RETRY_INTERVAL = 30.0  # seconds between replay attempts while the server is down

# MLflow error codes that are the request's fault, not the server's: raised (never spooled).
_CLIENT_ERRORS = {"INVALID_PARAMETER_VALUE", "RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST",
                  "BAD_REQUEST", "INVALID_STATE", "MALFORMED_REQUEST", "PERMISSION_DENIED",
                  "UNAUTHENTICATED", "NOT_FOUND", "ALREADY_EXISTS", "ENDPOINT_NOT_FOUND"}


def tracking_uri(tp: TrackingParams) -> str:
    """`MLFLOW_TRACKING_URI` if set, else params' `tracking.uri`."""
    return os.environ.get("MLFLOW_TRACKING_URI") or tp.uri


def spool_root() -> Path:
    return Path(os.environ.get("XSTILTS_MLFLOW_SPOOL") or Path(".xstilts") / "mlflow-spool")


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def is_outage(exc: BaseException) -> bool:
    """True if `exc` means the tracking server could not be reached or failed (not a bad call)."""
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        return exc.error_code not in _CLIENT_ERRORS
    return isinstance(exc, ConnectionError | TimeoutError) or \
        type(exc).__module__.split(".")[0] in ("requests", "urllib3", "sqlalchemy")


# --------------------------------------------------------------------------- the spool


def _now_ms() -> int:
    return int(time.time() * 1000)


class Spool:
    """One append-only JSONL file of tracking calls (`ops`) with a replay cursor beside it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.cursor_path = self.path.with_suffix(".done")

    @classmethod
    def new(cls, root: Path, uri: str) -> Spool:
        root.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        spool = cls(root / name)
        spool.append({"op": "header", "uri": uri, "created": _now_ms()})
        return spool

    def append(self, op: dict) -> None:
        line = (json.dumps(op, sort_keys=True) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def ops(self) -> list[dict]:
        """The complete lines (a torn last line, from a crash mid-append, is ignored)."""
        if not self.path.is_file():
            return []
        out = []
        for raw in self.path.read_bytes().split(b"\n"):
            if not raw.strip():
                continue
            try:
                out.append(json.loads(raw))
            except json.JSONDecodeError:
                log.warning("%s: ignoring a torn line", self.path)
        return out

    def done(self) -> int:
        try:
            return int(self.cursor_path.read_text())
        except (OSError, ValueError):
            return 0

    def set_done(self, n: int) -> None:
        _atomic_write(self.cursor_path, str(n))

    def uri(self) -> str | None:
        ops = self.ops()
        return ops[0].get("uri") if ops and ops[0].get("op") == "header" else None

    def pending(self) -> int:
        return max(len(self.ops()) - self.done(), 0)

    def remove(self) -> None:
        for p in (self.path, self.cursor_path, self.path.with_name(self.path.name + ".lock")):
            p.unlink(missing_ok=True)
        shutil.rmtree(self.path.with_suffix(".artifacts"), ignore_errors=True)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


@contextlib.contextmanager
def _locked(path: Path, blocking: bool):
    """An exclusive flock on `path.lock`; yields False if not blocking and already held."""
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _read_ids(root: Path) -> dict[str, str]:
    try:
        return json.loads((root / IDS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _record_id(root: Path, local: str, real: str) -> None:
    with _locked(root / IDS_FILE, blocking=True):
        ids = _read_ids(root)
        ids[local] = real
        _atomic_write(root / IDS_FILE, json.dumps(ids, indent=1, sort_keys=True))


class Replayer:
    """Replays spooled calls on an MlflowClient, resolving local run ids."""

    def __init__(self, client, root: Path):
        self.client = client
        self.root = root
        self._experiments: dict[str, str] = {}

    def resolve(self, run_id: str | None) -> str | None:
        if run_id and run_id.startswith(LOCAL_PREFIX):
            return _read_ids(self.root).get(run_id)
        return run_id

    def _run(self, run_id: str) -> str:
        real = self.resolve(run_id)
        if real is None:
            raise _Unresolved(run_id)
        return real

    def experiment_id(self, name: str) -> str:
        if name not in self._experiments:
            exp = self.client.get_experiment_by_name(name)
            self._experiments[name] = (exp.experiment_id if exp is not None
                                       else self.client.create_experiment(name))
        return self._experiments[name]

    def apply(self, op: dict, spool: Spool) -> None:
        from mlflow.entities import Metric, Param, RunTag

        kind = op["op"]
        if kind == "header":
            return
        if kind == "create_run":
            if self.resolve(op["local_id"]):
                return  # created by an earlier, interrupted replay
            tags = dict(op["tags"])
            if "mlflow.parentRunId" in tags:
                tags["mlflow.parentRunId"] = self._run(tags["mlflow.parentRunId"])
            run = self.client.create_run(self.experiment_id(op["experiment"]),
                                         start_time=op["start_time"], tags=tags,
                                         run_name=op["run_name"])
            _record_id(self.root, op["local_id"], run.info.run_id)
        elif kind == "log_batch":
            self.client.log_batch(self._run(op["run"]),
                                  metrics=[Metric(k, v, ts, s) for k, v, ts, s in op["metrics"]],
                                  params=[Param(k, v) for k, v in op["params"]],
                                  tags=[RunTag(k, v) for k, v in op["tags"]])
        elif kind == "set_terminated":
            self.client.set_terminated(self._run(op["run"]), op["status"], op["end_time"])
        elif kind == "update_run":
            self.client.update_run(self._run(op["run"]), op["status"], op["name"])
        elif kind == "log_artifact":
            path = spool.path.parent / op["path"]
            self.client.log_artifact(self._run(op["run"]), str(path), op["artifact_path"])
        elif kind == "delete_run":
            self.client.delete_run(self._run(op["run"]))
        else:
            raise ValueError(f"{spool.path}: unknown spooled call {kind!r}")


class _Unresolved(Exception):
    """A spooled call refers to a run created in a spool not replayed yet."""


def replay(spool: Spool, client, blocking: bool = False) -> bool:
    """Send the spool's pending calls in order; True when all are on the server (the spool is
    then removed). Stops at the first outage; a call the server rejects is logged and skipped."""
    root = spool.path.parent
    with _locked(spool.path, blocking) as got:
        if not got or not spool.path.is_file():
            return False
        ops = spool.ops()
        replayer = Replayer(client, root)
        done = spool.done()
        runs: dict[str, int] = {}
        for op in ops[1:]:
            if op.get("run") or op.get("local_id"):
                key = op.get("run") or op.get("local_id")
                runs[key] = runs.get(key, 0) + 1
        for i in range(done, len(ops)):
            try:
                replayer.apply(ops[i], spool)
            except _Unresolved as e:
                log.warning("%s: run %s is in another spool not replayed yet", spool.path, e)
                spool.set_done(i)
                return False
            except Exception as e:  # noqa: BLE001 - outage: keep the rest for later
                if is_outage(e):
                    spool.set_done(i)
                    return False
                log.warning("%s:%d: the tracking server rejected a spooled %s call: %s",
                            spool.path, i + 1, ops[i]["op"], e)
                with open(spool.path.with_suffix(".rejected"), "a", encoding="utf-8") as f:
                    f.write(json.dumps({"line": i + 1, "op": ops[i], "error": str(e)}) + "\n")
            spool.set_done(i + 1)
        header = ops[0] if ops else {}
        first = next((op.get("at") for op in ops[1:] if op.get("at")), header.get("created"))
        note = (f"{len(ops) - 1} tracking calls spooled from "
                f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime((first or 0) / 1000))} "
                f"(server unreachable) and replayed "
                f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} from {spool.path.name}")
        for run_id, n in runs.items():
            real = replayer.resolve(run_id)
            if real is None:
                continue
            try:
                client.set_tag(real, OUTAGE_TAG, f"{note}; {n} for this run")
            except Exception as e:  # noqa: BLE001
                if is_outage(e):
                    return False
                log.warning("could not tag run %s with %s: %s", real, OUTAGE_TAG, e)
        spool.remove()
    return True


def pending_spools(root: Path | None = None) -> list[Spool]:
    root = Path(root) if root is not None else spool_root()
    if not root.is_dir():
        return []
    return [Spool(p) for p in sorted(root.glob("*.jsonl"))]


def sync_spools(root: Path | None = None, uri: str | None = None) -> tuple[int, int]:
    """Replay every spool under `root` (oldest first), each to the URI it was written for (or
    `uri`). Returns (replayed, still pending)."""
    from mlflow.tracking import MlflowClient

    _http_defaults()
    ok = left = 0
    clients: dict[str, Any] = {}
    for spool in pending_spools(root):
        target = uri or spool.uri()
        if target is None:
            log.warning("%s: no tracking URI in its header; pass --uri", spool.path)
            left += 1
            continue
        client = clients.setdefault(target, MlflowClient(tracking_uri=target))
        if replay(spool, client, blocking=True) or not spool.path.exists():
            ok += 1
        else:
            left += 1
    return ok, left


def _http_defaults() -> None:
    for k, v in HTTP_DEFAULTS.items():
        os.environ.setdefault(k, v)


# --------------------------------------------------------------------------- the tracker


class Tracker:
    """Thin wrapper over `MlflowClient` for the pipeline's run hierarchy, with an outage spool.

    `tracker.client` is a spooling proxy: `log_batch`, `set_tag`, `set_terminated`,
    `update_run`, `log_artifact` and `delete_run` through it survive an outage as well; other
    client methods go straight to MLflow.
    """

    def __init__(self, tp: TrackingParams, spool_dir: Path | None = None,
                 retry_interval: float | None = None):
        from mlflow.tracking import MlflowClient  # imported here: mlflow is slow to import

        _http_defaults()
        self.uri = tracking_uri(tp)
        self.experiment = tp.experiment
        self.mlflow = MlflowClient(tracking_uri=self.uri)
        self.spool_dir = Path(spool_dir) if spool_dir is not None else spool_root()
        self.retry_interval = RETRY_INTERVAL if retry_interval is None else retry_interval
        self.spool: Spool | None = None
        self._next_try = 0.0
        self.client = _SpoolingClient(self)
        self.experiment_id: str | None = None
        try:
            self.experiment_id = Replayer(self.mlflow, self.spool_dir).experiment_id(
                self.experiment)
        except Exception as e:  # noqa: BLE001
            if not is_outage(e):
                raise
            self._outage(e, "get_experiment_by_name")

    # -- outage machinery

    @property
    def spooling(self) -> bool:
        return self.spool is not None

    def _outage(self, exc: BaseException, what: str) -> None:
        if self.spool is None:
            self.spool = Spool.new(self.spool_dir, self.uri)
            log.warning("MLflow at %s unreachable (%s: %s); training goes on, tracking calls "
                        "are spooled to %s", self.uri, what, _short(exc), self.spool.path)
        self._next_try = time.monotonic() + self.retry_interval

    def _call(self, op: dict, direct) -> Any:
        """Run `direct()` unless spooling; on an outage (or while spooling) spool `op`."""
        if self.spool is not None:
            self._spool(op)
            self.flush()
            return None
        try:
            return direct()
        except Exception as e:
            if not is_outage(e):
                raise
            self._outage(e, op["op"])
            self._spool(op)
            return None

    def _spool(self, op: dict) -> None:
        assert self.spool is not None
        if op["op"] == "log_artifact":  # keep a copy: the file may change before the replay
            dest = self.spool.path.with_suffix(".artifacts") / uuid.uuid4().hex[:8]
            dest.mkdir(parents=True)
            src = Path(op["path"])
            shutil.copy2(src, dest / src.name)
            op = {**op, "path": str((dest / src.name).relative_to(self.spool.path.parent))}
        self.spool.append({**op, "at": _now_ms()})

    def flush(self, force: bool = False) -> bool:
        """Replay the spool if the retry interval has passed (or `force`); True if empty."""
        if self.spool is None:
            return True
        if not force and time.monotonic() < self._next_try:
            return False
        for older in pending_spools(self.spool_dir):  # runs of ours may nest under theirs
            if older.path == self.spool.path:
                break
            if older.uri() == self.uri:
                replay(older, self.mlflow)
        if replay(self.spool, self.mlflow):
            log.warning("MLflow at %s is back: spooled tracking calls replayed", self.uri)
            self.spool = None
            return True
        self._next_try = time.monotonic() + self.retry_interval
        return False

    def resolve(self, run_id: str | None) -> str | None:
        """The server's id of `run_id` (a local id is mapped once its run was replayed)."""
        if run_id and run_id.startswith(LOCAL_PREFIX):
            return _read_ids(self.spool_dir).get(run_id, run_id)
        return run_id

    # -- the API used by the cell runner

    def start(self, name: str, tags: dict[str, str], parent: str | None = None) -> str:
        tags = {**tags, "git_commit": git_commit()}
        if parent:
            tags["mlflow.parentRunId"] = self.resolve(parent)
        local = f"{LOCAL_PREFIX}{uuid.uuid4().hex}"
        op = {"op": "create_run", "local_id": local, "experiment": self.experiment,
              "run_name": name, "tags": tags, "start_time": _now_ms()}

        def direct():
            if tags.get("mlflow.parentRunId", "").startswith(LOCAL_PREFIX):
                raise ConnectionError("parent run not on the server yet")
            if self.experiment_id is None:
                self.experiment_id = Replayer(self.mlflow, self.spool_dir).experiment_id(
                    self.experiment)
            run = self.mlflow.create_run(self.experiment_id, start_time=op["start_time"],
                                         run_name=name, tags=tags)
            return run.info.run_id

        run_id = self._call(op, direct)
        return run_id if run_id is not None else local

    def exists(self, run_id: str | None) -> bool:
        if not run_id:
            return False
        run_id = self.resolve(run_id)
        if run_id.startswith(LOCAL_PREFIX):  # created during an outage, not replayed yet
            return any(run_id in s.path.read_text() for s in pending_spools(self.spool_dir))
        if self.spool is not None and not self.flush():
            return True  # cannot check while the server is down: keep the link
        try:
            return self.mlflow.get_run(run_id).info.lifecycle_stage == "active"
        except Exception as e:  # noqa: BLE001 - a deleted or foreign run id: start a new run
            if is_outage(e):
                self._outage(e, "get_run")
                return True
            return False

    def log_params(self, run_id: str, params: dict) -> None:
        flat = {k: str(v)[:6000] for k, v in _flatten(params).items()}
        items = list(flat.items())
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=_params(items[i:i + 100]))

    def log_metrics(self, run_id: str, values: dict[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        ts = _now_ms()
        ms = [Metric(k, float(v), ts, step) for k, v in values.items()]
        for i in range(0, len(ms), 500):
            self.client.log_batch(run_id, metrics=ms[i:i + 500])

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.client.set_tag(run_id, key, value)

    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    def finish(self, run_id: str) -> None:
        self.client.set_terminated(run_id)
        if self.spool is not None and not self.flush(force=True):
            log.warning("MLflow at %s still unreachable: %d tracking calls stay in %s; the stage "
                        "succeeded; replay them with `xstilts tracking-sync` when the server is "
                        "back", self.uri, self.spool.pending(), self.spool.path)


def _params(items):
    from mlflow.entities import Param

    return [Param(k, v) for k, v in items]


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


class _SpoolingClient:
    """The MlflowClient calls the pipeline makes, spooled during an outage; others pass through."""

    def __init__(self, tracker: Tracker):
        self._t = tracker

    def __getattr__(self, name: str):
        return getattr(self._t.mlflow, name)

    def _run(self, run_id: str) -> str:
        return self._t.resolve(run_id)

    def log_batch(self, run_id: str, metrics=(), params=(), tags=(), synchronous=None):
        run_id = self._run(run_id)
        op = {"op": "log_batch", "run": run_id,
              "metrics": [[m.key, m.value, m.timestamp, m.step] for m in metrics],
              "params": [[p.key, p.value] for p in params],
              "tags": [[t.key, t.value] for t in tags]}
        return self._t._call(op, lambda: self._direct(
            run_id, lambda: self._t.mlflow.log_batch(run_id, metrics=metrics, params=params,
                                                     tags=tags)))

    def log_metric(self, run_id: str, key: str, value: float, timestamp=None, step=None, **_):
        from mlflow.entities import Metric

        self.log_batch(run_id, metrics=[Metric(key, float(value), timestamp or _now_ms(),
                                               step or 0)])

    def log_param(self, run_id: str, key: str, value: Any, **_):
        self.log_batch(run_id, params=_params([(key, str(value))]))
        return value

    def set_tag(self, run_id: str, key: str, value: Any, synchronous=None):
        from mlflow.entities import RunTag

        return self.log_batch(run_id, tags=[RunTag(key, str(value))])

    def set_terminated(self, run_id: str, status: str | None = None, end_time: int | None = None):
        run_id = self._run(run_id)
        end_time = end_time or _now_ms()
        op = {"op": "set_terminated", "run": run_id, "status": status or "FINISHED",
              "end_time": end_time}
        return self._t._call(op, lambda: self._direct(
            run_id, lambda: self._t.mlflow.set_terminated(run_id, status, end_time)))

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None):
        run_id = self._run(run_id)
        op = {"op": "update_run", "run": run_id, "status": status, "name": name}
        return self._t._call(op, lambda: self._direct(
            run_id, lambda: self._t.mlflow.update_run(run_id, status, name)))

    def delete_run(self, run_id: str):
        run_id = self._run(run_id)
        op = {"op": "delete_run", "run": run_id}
        return self._t._call(op, lambda: self._direct(
            run_id, lambda: self._t.mlflow.delete_run(run_id)))

    def log_artifact(self, run_id: str, local_path, artifact_path=None):
        run_id = self._run(run_id)
        op = {"op": "log_artifact", "run": run_id, "path": str(local_path),
              "artifact_path": artifact_path}
        return self._t._call(op, lambda: self._direct(
            run_id, lambda: self._t.mlflow.log_artifact(run_id, str(local_path),
                                                         artifact_path)))

    @staticmethod
    def _direct(run_id: str, fn):
        if run_id.startswith(LOCAL_PREFIX):  # a run created during the outage: spool as well
            raise ConnectionError(f"run {run_id} is not on the tracking server yet")
        return fn()


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
