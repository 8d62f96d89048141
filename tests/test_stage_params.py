"""dvc.yaml declares the parameters its training stages read beyond their own groups."""

from __future__ import annotations

import inspect

import yaml

from tests.studies.fabricate import ROOT
from xstilts.core import cell, families

TRAINING_KINDS = {k for k, v in families.KINDS.items() if v.phase in ("intermediate", "target")}


def _kind(stage: dict) -> str | None:
    """The cell.py kind a stage runs (`python pipeline/cell.py <kind> ...`), else None."""
    words = stage.get("cmd", "").split()
    return words[2] if len(words) > 2 and words[1] == "pipeline/cell.py" else None


def _training_stages() -> dict[str, dict]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: s for name, s in stages.items() if _kind(s) in TRAINING_KINDS}


def test_every_training_stage_depends_on_the_dev_selection_batch_size():
    """Dev selection scores the English dev split in batches of `evaluate.batch_size`
    (`cell.fit` hands it to training): in bf16 the batch changes the dev scores' rounding and
    so, at a near tie, the step selected. Every stage that trains must re-run when it changes."""
    assert "p.evaluate.batch_size" in inspect.getsource(cell.fit)
    stages = _training_stages()
    assert {_kind(s) for s in stages.values()} == TRAINING_KINDS
    missing = [n for n, s in stages.items()
               if "evaluate.batch_size" not in [str(x) for x in s.get("params", [])]]
    assert not missing, f"dvc.yaml stages without evaluate.batch_size: {missing}"
