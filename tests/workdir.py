"""A working directory for stage tests: params parsed, cwd set, tasks prepared, base model built."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from xstilts.core.params import Params, parse_params


@contextmanager
def prepared(tmp: Path, raw: dict, base_model: bool = True) -> Iterator[tuple[Params, dict | None]]:
    """Parse `raw` params, chdir to `tmp` (MLFLOW_TRACKING_URI unset), prepare every task's data
    and, with `base_model`, the base model; (params, the base model's stats or None) until the
    block ends."""
    from xstilts.core import data, paths, prepare_model

    p = parse_params(yaml.safe_dump(raw, sort_keys=False))
    mp = pytest.MonkeyPatch()
    mp.chdir(tmp)
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    try:
        for name, src in p.tasks.items():
            data.prepare_task(name, src, paths.DATA / name)
        yield p, prepare_model.prepare_model_stage(p) if base_model else None
    finally:
        mp.undo()


def assert_trained_on_english_then_evaluated(read_log: list[tuple]) -> None:
    """The zero-shot rule in a target stage (training, then evaluation, in one process): every
    read before the first evaluation read is English, and nothing is read for training or
    selection after it."""
    purposes = [purpose for (_, _, _, purpose) in read_log]
    assert "evaluate" in purposes, "the stage evaluated nothing"
    first = purposes.index("evaluate")
    assert {lang for (_, lang, _, _) in read_log[:first]} == {"en"}, read_log[:first]
    assert set(purposes[first:]) == {"evaluate"}, read_log[first:]
