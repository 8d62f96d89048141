"""Fabricated metric files for the studies' tests (layouts of metrics/eval and metrics/dev)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from xstilts.core.params import Params, parse_params
from xstilts.core.records import EvalRecord

ROOT = Path(__file__).resolve().parents[2]


def params(studies: dict | None = None, **top) -> Params:
    """The repo's params.yaml with `studies` (and top-level groups) replaced; cheap bootstrap."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["studies"] = {"stats": {"bootstrap_resamples": 500}, **(studies or {})}
    raw.update(top)
    return parse_params(yaml.safe_dump(raw))


def write_eval(root: Path, itask: str, target: str, seed: int, metric: str,
               scores: dict[str, float]) -> Path:
    """One evaluate-stage file: {"metric", "languages": {lang: {metric: score}}, ...}."""
    f = root / itask / target / f"seed{seed}.json"
    EvalRecord.of(itask, target, seed, metric,
                  {lang: {metric: s} for lang, s in scores.items()}).write(f)
    return f


def write_dev(root: Path, phase_path: str, seed: int, best_dev: float) -> Path:
    f = root / phase_path / f"seed{seed}.json"
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps({"best_dev": best_dev, "seed": seed}))
    return f


def grid(p: Params, root: Path, langs: list[str],
         score: Callable[[str, str, str, int], float]) -> None:
    """Eval files for every (itask, target incl. retrieval, seed): score(itask, target, lang,
    seed)."""
    for itask in p.intermediate.tasks:
        for target in list(p.target.tasks) + list(p.evaluate.retrieval_tasks):
            metric = "f1" if target in ("xcat_qa", "xcat_tag") else "acc"
            for seed in p.seeds:
                write_eval(root, itask, target, seed, metric,
                           {lang: score(itask, target, lang, seed) for lang in langs})


def studies_project(tmp: Path, studies: dict) -> Path:
    """A git + DVC project in `tmp` with the repo's dvc.yaml and params.yaml, every study off
    and then the `studies` keys given (validated), for `stage_names`."""
    from tests.test_cell import studies_only

    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    raw = studies_only(yaml.safe_load((ROOT / "params.yaml").read_text()), [])
    raw["studies"].update(studies)
    (tmp / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    parse_params((tmp / "params.yaml").read_text())
    subprocess.run(["git", "init", "-q"], cwd=tmp, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp, check=True)
    return tmp


def stage_names(tmp: Path) -> list[str]:
    """`dvc stage list --name-only` of a project."""
    out = subprocess.run([sys.executable, "-m", "dvc", "stage", "list", "--name-only"],
                         cwd=tmp, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()
