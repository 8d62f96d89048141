"""A DVC remote (local directory, as S3/GCS/SSH remotes behave): push a tiny pipeline's outputs,
wipe the cache and the outputs, pull, and get byte-identical outputs and a clean `dvc status`."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

STAGE = textwrap.dedent("""\
    import json, pathlib, sys
    n = int(sys.argv[1])
    out = pathlib.Path("models/tiny"); out.mkdir(parents=True, exist_ok=True)
    (out / "weights.bin").write_bytes(bytes((i * 37 + n) % 256 for i in range(4096)))
    (out / "config.json").write_text(json.dumps({"n": n}))
    pathlib.Path("metrics").mkdir(exist_ok=True)
    pathlib.Path("metrics/score.json").write_text(json.dumps({"score": n / 10}))
""")

DVC_YAML = textwrap.dedent("""\
    stages:
      train:
        cmd: python make.py 3
        deps: [make.py]
        outs: [models/tiny]
        metrics: [{metrics/score.json: {cache: true}}]
""")


def dvc(cwd: Path, *args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, f"dvc {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "make.py").write_text(STAGE)
    (proj / "dvc.yaml").write_text(DVC_YAML.replace("python make.py", f"{sys.executable} make.py"))
    dvc(proj, "init", "--no-scm", "-q")
    dvc(proj, "config", "core.analytics", "false")
    return proj


def test_push_wipe_pull_restores_outputs(project, tmp_path):
    remote = tmp_path / "remote"
    dvc(project, "repro")
    before = {**digest(project / "models"), **digest(project / "metrics")}
    dvc(project, "remote", "add", "-d", "storage", str(remote))
    dvc(project, "push")
    assert any(p.is_file() for p in remote.rglob("*")), "nothing pushed"

    shutil.rmtree(project / ".dvc" / "cache")  # a fresh machine: no cache, no outputs
    shutil.rmtree(project / "models")
    shutil.rmtree(project / "metrics")
    assert "not in cache" in dvc(project, "status")

    dvc(project, "pull")
    after = {**digest(project / "models"), **digest(project / "metrics")}
    assert after == before
    assert "up to date" in dvc(project, "status").lower()
    assert "in sync" in dvc(project, "status", "--cloud")
    out = dvc(project, "repro")  # nothing re-runs: the pulled outputs are current
    assert "didn't change" in out and "Running stage" not in out, out
