"""Fabricated metric files for the studies' tests (layouts of metrics/eval and metrics/dev)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml

from xstilts.params import Params, parse_params

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
    f.parent.mkdir(parents=True, exist_ok=True)
    non_en = [s for lang, s in scores.items() if lang != "en"]
    f.write_text(json.dumps({"itask": itask, "target": target, "seed": seed, "metric": metric,
                             "languages": {lang: {metric: s} for lang, s in scores.items()},
                             "avg_non_en": sum(non_en) / len(non_en)}))
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
