"""Where the stages keep their outputs (light: no torch import, for stages that need none)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

DATA = Path("data/prepared")
BASE = Path("models/base")


def intermediate_dir(itask: str, seed: int) -> Path:
    return Path("models/intermediate") / itask / f"seed{seed}"


def target_dir(itask: str, target: str, seed: int) -> Path:
    return Path("models/target") / itask / target / f"seed{seed}"


def eval_file(itask: str, target: str, seed: int) -> Path:
    return Path("metrics/eval") / itask / target / f"seed{seed}.json"


def dev_file(phase: str, name: str, seed: int) -> Path:
    return Path("metrics/dev") / phase / name / f"seed{seed}.json"


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
