"""Progress bars that stay readable in DVC logs (few updates when stderr is not a terminal)."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


def progress(iterable=None, **kwargs) -> tqdm:
    """`tqdm` with a long refresh interval when output goes to a file or pipe."""
    kwargs.setdefault("mininterval", 0.2 if sys.stderr.isatty() else 15.0)
    return tqdm(iterable, **kwargs)
