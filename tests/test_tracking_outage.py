"""Tracking-server faults with a real `mlflow server` process: stopped and restarted in the middle
of a run (metrics spooled, replayed in order, nothing lost or duplicated), still down at the end
(the stage succeeds, the spool stays, `xstilts tracking-sync` replays it), and a server with a
PostgreSQL backend store (set XSTILTS_TEST_POSTGRES_URL; `.ci/run` does).

The Tracker is driven as the phases drive it (start, log_params, log_metrics per dev evaluation,
client.set_tag, log_artifact, finish); no training is needed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from xstilts.core.params import TrackingParams
from xstilts.core.tracking import OUTAGE_TAG, Spool, Tracker, pending_spools

READY_TIMEOUT = 90  # seconds; the server is usually ready in ~12 s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """`mlflow server` on 127.0.0.1:<port>; stop() and start() keep the port and the store."""

    def __init__(self, backend: str, workdir: Path):
        self.backend = backend
        self.workdir = workdir
        self.port = _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = workdir / "server.log"

    def start(self) -> None:
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        env.pop("MLFLOW_TRACKING_URI", None)
        cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.backend,
               "--artifacts-destination", str(self.workdir / "artifacts"),
               "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                         cwd=self.workdir, start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited ({self.proc.returncode}):\n"
                                   + self.log.read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"mlflow server not ready in {READY_TIMEOUT} s:\n"
                           + self.log.read_text()[-3000:])

    def stop(self) -> None:
        """SIGTERM to the server's process group (uvicorn worker included), SIGKILL if slow."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        with pytest.raises(OSError):  # really down: the port refuses connections
            urllib.request.urlopen(f"{self.uri}/health", timeout=2)
        self.proc = None


@pytest.fixture
def server(tmp_path):
    srv = MlflowServer(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path)
    srv.start()
    yield srv
    srv.stop()


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def _dev(step: int) -> dict[str, float]:
    return {"dev/acc": step / 10, "dev/loss": 1.0 - step / 20}


def test_server_stopped_and_restarted_mid_run(server, tmp_path, caplog):
    spool_dir = tmp_path / "spool"
    tracker = Tracker(TrackingParams(uri=server.uri, experiment="outage"), spool_dir=spool_dir,
                      retry_interval=0)
    parent = tracker.start("none seed0", {"itask": "none", "seed": "0", "phase": "intermediate"})
    run = tracker.start("none -> xcat_pair seed0", {"phase": "target"}, parent=parent)
    tracker.log_params(run, {"hparams": {"lr": 1e-3, "batch_size": 8}})
    for step in range(3):
        tracker.log_metrics(run, _dev(step), step=step)
    assert not tracker.spooling

    server.stop()
    caplog.set_level(logging.WARNING, logger="xstilts.core.tracking")
    t0 = time.monotonic()
    for step in range(3, 6):  # training goes on: each call returns after a short retry
        tracker.log_metrics(run, _dev(step), step=step)
    tracker.client.set_tag(run, "dvc_eval_stage", "evaluate@none-xcat_pair-0")
    tracker.log_params(run, {"late": 1})
    assert time.monotonic() - t0 < 60, "an outage must not stall training for minutes"
    assert tracker.spooling and "unreachable" in caplog.text
    spools = pending_spools(spool_dir)
    assert len(spools) == 1
    kinds = [op["op"] for op in spools[0].ops()]
    assert kinds == ["header"] + ["log_batch"] * 5  # 3 metric batches, the tag, the param

    server.start()
    tracker.log_metrics(run, _dev(6), step=6)  # the next call replays the spool first
    assert not tracker.spooling
    tracker.finish(run)
    tracker.finish(parent)
    assert pending_spools(spool_dir) == []

    client = _client(server.uri)
    for key in ("dev/acc", "dev/loss"):
        assert _history(client, run, key) == [(s, _dev(s)[key]) for s in range(7)]
    r = client.get_run(run)
    assert r.data.params == {"hparams.lr": "0.001", "hparams.batch_size": "8", "late": "1"}
    assert r.data.tags["dvc_eval_stage"] == "evaluate@none-xcat_pair-0"
    assert r.data.tags["mlflow.parentRunId"] == parent
    note = r.data.tags[OUTAGE_TAG]
    assert "replayed" in note and "6 for this run" in note  # the 5 calls above + step 6
    assert OUTAGE_TAG not in client.get_run(parent).data.tags  # it lost nothing
    assert r.info.status == "FINISHED"


def test_server_down_at_the_end_then_tracking_sync(server, tmp_path, caplog, capsys):
    from xstilts.cli import main

    spool_dir = tmp_path / "spool"
    tp = TrackingParams(uri=server.uri, experiment="outage-sync")
    stage1 = Tracker(tp, spool_dir=spool_dir, retry_interval=0)
    parent = stage1.start("cldr_region seed0", {"phase": "intermediate"})
    stage1.log_metrics(parent, _dev(0), step=0)

    server.stop()
    caplog.set_level(logging.WARNING, logger="xstilts.core.tracking")
    # a run started during the outage (local id), with params, metrics, a tag and an artifact
    child = stage1.start("cldr_region -> xcat_qa seed0", {"phase": "target"}, parent=parent)
    assert child.startswith("local-")
    stage1.log_params(child, {"hparams": {"lr": 3e-5}})
    for step in range(1, 4):
        stage1.log_metrics(parent, _dev(step), step=step)
        stage1.log_metrics(child, _dev(step), step=step)
    report = tmp_path / "results.md"
    report.write_text("| table |\n")
    stage1.log_artifact(child, report)
    report.write_text("changed after logging\n")  # the spool keeps the logged content
    stage1.finish(child)  # no exception: the stage succeeds
    stage1.finish(parent)
    assert "still unreachable" in caplog.text and "xstilts tracking-sync" in caplog.text
    assert len(pending_spools(spool_dir)) == 1

    # the next stage starts while the server is still down and nests under the local run id
    stage2 = Tracker(tp, spool_dir=spool_dir, retry_interval=0)
    assert stage2.exists(child)
    grandchild = stage2.start("evaluate", {"phase": "evaluate"}, parent=child)
    stage2.log_metrics(grandchild, {"xcat_qa/f1/de": 0.5})
    stage2.finish(grandchild)
    assert len(pending_spools(spool_dir)) == 2

    assert main(["tracking-sync", "--spool", str(spool_dir)]) == 1  # still down: exit 1
    copies = {s.path.name: s.path.read_bytes() for s in pending_spools(spool_dir)}
    server.start()
    assert main(["tracking-sync", "--spool", str(spool_dir)]) == 0
    assert "2 spool(s) replayed, 0 left" in capsys.readouterr().out
    assert pending_spools(spool_dir) == []
    assert main(["tracking-sync", "--spool", str(spool_dir)]) == 0  # idempotent: nothing left
    # a replay whose progress was lost (killed after the server stored the calls): replaying
    # the same spools again creates no second run and stores no metric twice
    for name, content in copies.items():
        (spool_dir / name).write_bytes(content)
    assert main(["tracking-sync", "--spool", str(spool_dir)]) == 0

    client = _client(server.uri)
    ids = json.loads((spool_dir / "ids.json").read_text())
    child_id, grand_id = ids[child], ids[grandchild]
    assert _history(client, parent, "dev/acc") == [(s, s / 10) for s in range(4)]
    assert _history(client, child_id, "dev/loss") == [(s, 1.0 - s / 20) for s in range(1, 4)]
    c = client.get_run(child_id)
    assert c.data.tags["mlflow.parentRunId"] == parent
    assert c.data.params == {"hparams.lr": "3e-05"}
    assert c.info.status == "FINISHED" and OUTAGE_TAG in c.data.tags
    assert OUTAGE_TAG in client.get_run(parent).data.tags
    g = client.get_run(grand_id)
    assert g.data.tags["mlflow.parentRunId"] == child_id
    assert _history(client, grand_id, "xcat_qa/f1/de") == [(0, 0.5)]
    art = Path(client.download_artifacts(child_id, "results.md", str(tmp_path / "dl")))
    assert art.read_text() == "| table |\n"
    runs = client.search_runs([client.get_experiment_by_name("outage-sync").experiment_id])
    assert len(runs) == 3  # parent, child, grandchild: nothing created twice
    # a later stage reading the local id from run.json finds the replayed run
    stage3 = Tracker(tp, spool_dir=spool_dir)
    assert stage3.exists(child) and stage3.resolve(child) == child_id


def test_tracker_created_while_the_server_is_down(tmp_path, caplog):
    """No server at all at start: the stage still runs; the spool names the URI."""
    uri = f"http://127.0.0.1:{_free_port()}"
    caplog.set_level(logging.WARNING, logger="xstilts.core.tracking")
    t0 = time.monotonic()
    tracker = Tracker(TrackingParams(uri=uri, experiment="x"), spool_dir=tmp_path)
    run = tracker.start("r", {"phase": "intermediate"})
    tracker.log_metrics(run, {"dev/acc": 0.5}, step=1)
    tracker.finish(run)
    assert time.monotonic() - t0 < 30
    (spool,) = pending_spools(tmp_path)
    assert spool.uri() == uri
    assert [op["op"] for op in spool.ops()] == ["header", "create_run", "log_batch",
                                                "set_terminated"]
    assert "still unreachable" in caplog.text


def test_spool_ignores_a_torn_last_line(tmp_path):
    spool = Spool.new(tmp_path, "http://x")
    spool.append({"op": "log_batch", "run": "r", "metrics": [], "params": [], "tags": []})
    with open(spool.path, "ab") as f:  # a crash in the middle of an append
        f.write(b'{"op": "log_ba')
    assert [op["op"] for op in spool.ops()] == ["header", "log_batch"]


@pytest.mark.skipif(not os.environ.get("XSTILTS_TEST_POSTGRES_URL"),
                    reason="set XSTILTS_TEST_POSTGRES_URL to a PostgreSQL database (.ci/run "
                           "starts one) to run the MLflow server on a PostgreSQL backend store")
def test_mlflow_server_with_postgres_backend(tmp_path):
    """`mlflow server --backend-store-uri postgresql+psycopg://...` (a fresh database, dropped
    afterwards) with runs logged through the Tracker."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(os.environ["XSTILTS_TEST_POSTGRES_URL"])
    dbname = f"xstilts_mlflow_{uuid.uuid4().hex[:8]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    backend = url.set(drivername="postgresql+psycopg", database=dbname)
    srv = MlflowServer(backend.render_as_string(hide_password=False), tmp_path)
    try:
        srv.start()
        tracker = Tracker(TrackingParams(uri=srv.uri, experiment="pg"), spool_dir=tmp_path / "s")
        parent = tracker.start("none seed0", {"phase": "intermediate"})
        run = tracker.start("none -> xcat_pair seed0", {"phase": "target"}, parent=parent)
        tracker.log_params(run, {"hparams": {"lr": 1e-4}})
        for step in range(3):
            tracker.log_metrics(run, _dev(step), step=step)
        tracker.client.set_tag(run, "dvc_eval_stage", "evaluate@none-xcat_pair-0")
        tracker.finish(run)
        tracker.finish(parent)
        assert not tracker.spooling and pending_spools(tmp_path / "s") == []
        client = _client(srv.uri)
        assert _history(client, run, "dev/acc") == [(s, s / 10) for s in range(3)]
        r = client.get_run(run)
        assert r.data.tags["mlflow.parentRunId"] == parent and r.info.status == "FINISHED"
        with psycopg.connect(backend.set(drivername="postgresql")
                             .render_as_string(hide_password=False)) as conn:
            n = conn.execute("SELECT count(*) FROM metrics WHERE run_uuid = %s",
                             (run,)).fetchone()[0]
        assert n == 6  # the runs really are in PostgreSQL: 2 keys x 3 steps
    finally:
        srv.stop()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
