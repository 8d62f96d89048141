"""Every params profile validates, and `dvc repro --dry --force` lists its whole grid.

On a never-run checkout DVC 3.67's run-cache check hashes every dependency, and fails on
directories that earlier stages would produce (`models/base`); `--force` skips that check and
prints every stage's command without running anything.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from xstilts.core.params import load_params

ROOT = Path(__file__).resolve().parents[1]
DVC = str(Path(sys.executable).with_name("dvc"))
PROFILES = [ROOT / "params.yaml", *sorted((ROOT / "profiles").glob("*.yaml"))]


def _run(cmd: list[str], cwd: Path) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{cmd} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout + out.stderr


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_profile_dry_run_lists_every_stage(profile: Path, tmp_path: Path):
    p = load_params(profile)
    for name in ("dvc.yaml", "pipeline", ".dvcignore"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, tmp_path / name)
    (tmp_path / "src" / "xstilts").mkdir(parents=True)  # a dependency of every stage
    shutil.copy(profile, tmp_path / "params.yaml")
    _run(["git", "init", "-q"], tmp_path)
    _run([DVC, "init", "-q"], tmp_path)
    _run([DVC, "config", "core.analytics", "false"], tmp_path)
    listed = set(re.findall(r"Running stage '([^']+)'", _run([DVC, "repro", "--dry", "--force"],
                                                                tmp_path)))
    stages = set(_run([DVC, "stage", "list", "--name-only"], tmp_path).split())
    assert listed == stages
    # the grid: every (intermediate, target, seed) cell is trained and evaluated (one stage)
    cells = {f"{i}-{t}-{s}" for i in p.intermediate.tasks for t in p.target.tasks for s in p.seeds}
    assert {s.split("@", 1)[1] for s in stages if s.startswith("target@")} == cells
    assert not [s for s in stages if "evaluate@" in s]
    assert {s.split("@", 1)[1] for s in stages if s.startswith("prepare_data@")} == set(p.tasks)
    assert not (tmp_path / "models").exists()  # a dry run runs nothing
