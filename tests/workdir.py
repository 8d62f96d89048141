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
        yield p, prepare_model.prepare_base_model(p) if base_model else None
    finally:
        mp.undo()
