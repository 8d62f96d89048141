"""Where the stages keep their outputs (light: no torch import, for stages that need none)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

DATA = Path("data/prepared")
FINGERPRINTS = Path("data/fingerprints")
MODELS = Path("models")
METRICS = Path("metrics")
PREDICTIONS = Path("predictions")
BASE = MODELS / "base"


@dataclass(frozen=True)
class Layout:
    """Where one family's cells keep their outputs. A cell is keyed by `key` (the intermediate
    checkpoint's name: an intermediate task, `<itask>/frac<f>`, a variant), a target and a seed;
    `metrics_key` prefixes the key in metrics and prediction paths (scaling: the model)."""

    models: Path = MODELS
    metrics: Path = METRICS
    predictions: Path = PREDICTIONS
    metrics_key: str = ""

    def _mkey(self, key: str) -> str:
        return f"{self.metrics_key}/{key}" if self.metrics_key else key

    def intermediate_dir(self, key: str, seed: int) -> Path:
        return self.models / "intermediate" / key / f"seed{seed}"

    def target_dir(self, key: str, target: str, seed: int) -> Path:
        return self.models / "target" / key / target / f"seed{seed}"

    def eval_file(self, key: str, target: str, seed: int) -> Path:
        return self.metrics / "eval" / self._mkey(key) / target / f"seed{seed}.json"

    def prediction_dir(self, key: str, target: str, seed: int) -> Path:
        return self.predictions / self._mkey(key) / target / f"seed{seed}"

    def dev_file(self, phase: str, key: str, seed: int, target: str | None = None) -> Path:
        name = self._mkey(key) if target is None else f"{self._mkey(key)}/{target}"
        return self.metrics / "dev" / phase / name / f"seed{seed}.json"

    def resume_cell(self, out: Path) -> str:
        """The resumable-state folder name of output `out` (its path under models/)."""
        return out.relative_to(MODELS).as_posix()


MAIN = Layout()


def study_layout(study: str, metrics_key: str = "") -> Layout:
    """models/<study>, metrics/<study> (predictions under metrics/<study>/predictions)."""
    models = MODELS / study / metrics_key if metrics_key else MODELS / study
    return Layout(models, METRICS / study, METRICS / study / "predictions", metrics_key)


def scaling_model_file(m: str, root: Path = METRICS / "scaling") -> Path:
    """Study 3's record of base model `m` (parameter counts, family, tokenizer notes)."""
    return root / "model" / f"{m}.json"


def intermediate_dir(itask: str, seed: int) -> Path:
    return MAIN.intermediate_dir(itask, seed)


def target_dir(itask: str, target: str, seed: int) -> Path:
    return MAIN.target_dir(itask, target, seed)


def eval_file(itask: str, target: str, seed: int) -> Path:
    return MAIN.eval_file(itask, target, seed)


def dev_file(phase: str, name: str, seed: int) -> Path:
    return METRICS / "dev" / phase / name / f"seed{seed}.json"


def fresh_dir(path: Path) -> Path:
    """An empty directory at `path` (stage outputs are rewritten whole)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def write_json(path: Path, obj: dict) -> None:
    """`obj` as JSON at `path`, written atomically (a temporary file renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
    tmp.replace(path)
