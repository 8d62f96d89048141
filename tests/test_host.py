"""The warm stage host (xstilts.core.host): a hosted stage gets the client's argv, working
directory, environment, stdio and signals, returns its exit status, and writes exactly what it
writes in its own interpreter."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xstilts.core import host

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

PROBE = '''"""A stage script as the pipeline's are."""

from xstilts.core.host import run_in_host

run_in_host(__name__)

import os, signal, sys, time

from xstilts.core import host

print("hosted", host._HOSTED, "argv", sys.argv[1:], "cwd", os.getcwd(),
      "X", os.environ.get("X"), "torch", "torch" in sys.modules, flush=True)
print("to stderr", file=sys.stderr)
if sys.argv[1] in ("sleep", "term"):
    open(sys.argv[2], "w").write(str(os.getpid()))
    if sys.argv[1] == "term":
        signal.signal(signal.SIGTERM, lambda n, f: (print("got SIGTERM", flush=True), sys.exit(7)))
    time.sleep(60)
raise SystemExit(int(sys.argv[2]) if sys.argv[1] == "exit" else 0)
'''


def _env(**extra) -> dict:
    """A fixed environment (pytest's own variables change between set-up and test, and imports
    add some, and every variable is part of the host key)."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR", "HF_HUB_OFFLINE")
           if k in os.environ}
    return {**env, host.SWITCH: "1", host.IDLE: "20", **extra}


def _key(scripts: Path, env: dict) -> str:
    return host.key_of(str(scripts / "probe.py"), env)


def _wait_ready(key: str, timeout: float = 120) -> None:
    log = Path(host.log_path(key))
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if log.exists() and " ready" in log.read_text():
            return
        time.sleep(0.2)
    raise AssertionError(f"no host became ready: {log}")


@pytest.fixture(scope="module")
def scripts(tmp_path_factory) -> Path:
    """A scripts folder of its own (so its own host key), with a host up for it."""
    d = tmp_path_factory.mktemp("scripts") / hashlib.sha1(os.urandom(8)).hexdigest()[:8]
    d.mkdir()
    (d / "probe.py").write_text(PROBE)
    first = subprocess.run([sys.executable, str(d / "probe.py"), "x"], cwd=d, env=_env(),
                           capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("hosted False"), "no host yet: the first run is in-process"
    _wait_ready(_key(d, _env()))
    return d


def probe(scripts: Path, *args: str, cwd: Path | None = None, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(scripts / "probe.py"), *args], cwd=cwd or scripts,
                          env=_env(**env), capture_output=True, text=True, timeout=60)


def test_a_hosted_stage_gets_argv_cwd_stdio_and_exit_status(scripts, tmp_path):
    r = probe(scripts, "a", "b c")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("hosted True argv ['a', 'b c']"), r.stdout
    assert f"cwd {scripts}" in r.stdout and "torch True" in r.stdout  # the host's imports
    assert r.stderr == "to stderr\n"
    # per-stage variables (DVC_STAGE) and the working directory do not change the host
    r = probe(scripts, "exit", "3", cwd=tmp_path, DVC_STAGE="stage@x")
    assert r.stdout.startswith("hosted True") and f"cwd {tmp_path}" in r.stdout
    assert r.returncode == 3


def test_another_environment_or_an_edit_is_not_served_by_this_host(scripts):
    r = probe(scripts, "a", X="5")  # other variables: other imports possible, another host
    assert r.stdout.startswith("hosted False") and "X 5" in r.stdout
    assert probe(scripts, "a", **{host.SWITCH: "0"}).stdout.startswith("hosted False")
    r = subprocess.run([sys.executable, "-X", "dev", str(scripts / "probe.py"), "a"],
                       cwd=scripts, env=_env(), capture_output=True, text=True)
    assert r.stdout.startswith("hosted False")  # interpreter options would not reach a host
    extra = scripts / "other.py"
    extra.write_text("x = 1\n")  # an edit in the scripts' folder
    try:
        assert probe(scripts, "a").stdout.startswith("hosted False")
    finally:
        extra.unlink()
    assert probe(scripts, "a").stdout.startswith("hosted True")


def _pid(path: Path) -> int:
    end = time.monotonic() + 30
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < end, "the stage did not start"
        time.sleep(0.05)
    return int(path.read_text())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_signals_reach_the_stage_and_a_killed_client_kills_it(scripts, tmp_path):
    for how, expect in (("term", 7), ("sleep", -signal.SIGINT)):
        pidfile = tmp_path / f"{how}.pid"
        proc = subprocess.Popen([sys.executable, str(scripts / "probe.py"), how, str(pidfile)],
                                cwd=scripts, env=_env(), stdout=subprocess.PIPE, text=True)
        stage = _pid(pidfile)
        assert stage != proc.pid  # the stage runs in the host's fork
        proc.send_signal(signal.SIGTERM if how == "term" else signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == expect, (how, proc.returncode, out)
        assert ("got SIGTERM" in out) == (how == "term")
    pidfile = tmp_path / "kill.pid"
    proc = subprocess.Popen([sys.executable, str(scripts / "probe.py"), "sleep", str(pidfile)],
                            cwd=scripts, env=_env(), stdout=subprocess.DEVNULL)
    stage = _pid(pidfile)
    proc.kill()
    proc.wait()
    end = time.monotonic() + 10
    while _alive(stage):
        assert time.monotonic() < end, "the stage outlived its killed client"
        time.sleep(0.05)


def test_a_hosted_training_stage_writes_what_it_writes_in_its_own_interpreter(
        tmp_path, tiny_encoder_dir):
    """The same intermediate, target (+ evaluation) and retrieval stages, in their own
    interpreters and in a host's forks: byte-identical checkpoints, predictions and metrics (but
    the timings)."""
    import json

    import yaml

    from tests.test_cell import small_params
    from tests.workdir import prepared

    root = Path(__file__).resolve().parents[1]
    stages = [["intermediate", "cldr_region", "0"], ["target", "cldr_region", "xcat_pair", "0"],
              ["retrieve", "cldr_region", "xname_retrieval", "0"]]
    raw = small_params(tiny_encoder_dir, tmp_path)
    with prepared(tmp_path, raw):
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))

    def run_all(hosted: bool) -> dict[str, bytes]:
        env = _env(**{host.SWITCH: "1" if hosted else "0"})
        for stage in stages:
            r = subprocess.run([sys.executable, str(root / "pipeline" / "cell.py"), *stage],
                               cwd=tmp_path, env=env, capture_output=True, text=True,
                               timeout=600)
            assert r.returncode == 0, r.stderr[-3000:]
        out = {}
        for folder in ("models/intermediate", "models/target", "predictions", "metrics"):
            for f in sorted((tmp_path / folder).rglob("*")):
                if f.is_file() and f.name != "run.json":  # MLflow run ids: new every run
                    data = f.read_bytes()
                    if f.suffix == ".json" and b"_seconds" in data:  # timings
                        rec = {k: v for k, v in json.loads(data).items() if "seconds" not in k}
                        data = json.dumps(rec, sort_keys=True).encode()
                    out[str(f.relative_to(tmp_path))] = data
        return out

    own = run_all(hosted=False)  # tokenizes (a cold feature cache)
    assert run_all(hosted=False) == own  # reads the feature cache: the same files
    key = _key(root / "pipeline", _env())
    run_all(hosted=True)  # starts the host (these run in their own interpreters)
    _wait_ready(key)

    def served() -> int:
        lines = Path(host.log_path(key)).read_text().splitlines()
        return sum("(pid " in line and str(tmp_path) in line for line in lines)

    before = served()
    hosted = run_all(hosted=True)
    assert served() - before == 3  # each stage ran in the host
    assert own.keys() == hosted.keys() and len(own) > 5
    assert [k for k in own if own[k] != hosted[k]] == []
