"""Tokenize once: token features keyed by (task, data, tokenizer, max length, stride, mode).

`cached(key_parts, compute)` returns the rows of `compute()` and keeps them (a) in memory for
the rest of the process (dev sets are featurized at every dev evaluation) and (b) as an Arrow
dataset under the configured folder (`runtime.feature_cache`, default `.xstilts/features`), so
every later phase and cell that tokenizes the same split with the same tokenizer reads it back
instead (an intermediate task's train split once per seed, a target's English train split once
for every intermediate task, every test language once for every cell).

The key hashes the dataset's content fingerprint (`datasets` derives it from the Arrow data),
the tokenizer's full serialisation (vocabulary, normaliser, pre-tokenizer, post-processor), the
task's name, type and labels, max length, stride and train/eval mode, and `VERSION` (bump it
when `xstilts.core.features` changes what it produces). Entries are written to a temporary folder
and renamed, so a killed process never leaves a partial entry that a later one would read; an
unreadable entry is recomputed and replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

VERSION = 1  # of the feature format produced by xstilts.core.features
_MEMORY_ENTRIES = 16

_dir: Path | None = None
_memory: OrderedDict[str, list[dict]] = OrderedDict()
_tokenizer_hashes: dict[int, tuple[object, str | None]] = {}
stats = {"memory": 0, "disk": 0, "computed": 0}


def configure(folder: str | Path | None) -> None:
    """Where entries are stored on disk (None: in-memory reuse only)."""
    global _dir
    _dir = Path(folder) if folder else None


def folder() -> Path | None:
    return _dir


def tokenizer_hash(tokenizer) -> str | None:
    """sha256 of a fast tokenizer's serialisation and settings; None for a slow tokenizer."""
    held = _tokenizer_hashes.get(id(tokenizer))
    if held is not None and held[0] is tokenizer:
        return held[1]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    digest = None
    if backend is not None:
        spec = json.loads(backend.to_str())
        for transient in ("truncation", "padding"):  # set by each call, not part of the vocab
            spec.pop(transient, None)
        h = hashlib.sha256(json.dumps(spec, sort_keys=True).encode())
        roles = {k: str(v) for k, v in tokenizer.special_tokens_map.items()}  # e.g. QA's
        h.update(json.dumps([type(tokenizer).__name__, tokenizer.truncation_side,  # no-answer
                             tokenizer.padding_side, tokenizer.model_max_length,  # position
                             roles], sort_keys=True).encode())                   # is the CLS
        digest = h.hexdigest()
    _tokenizer_hashes[id(tokenizer)] = (tokenizer, digest)
    return digest


def feature_key(task, ds, tokenizer, max_length: int, stride: int, train: bool,
                label_piece: str = "first") -> str | None:
    """The cache key of one featurization; None when it cannot be keyed safely."""
    fingerprint = getattr(ds, "_fingerprint", None)
    tok = tokenizer_hash(tokenizer)
    if not fingerprint or tok is None:
        return None
    parts = {"version": VERSION, "task": task.name, "type": str(task.type),
             "labels": list(task.labels), "data": fingerprint, "rows": len(ds),
             "tokenizer": tok, "max_length": max_length, "stride": stride, "train": train}
    if label_piece != "first":  # (the keys of XTREME's alignment are those of earlier versions)
        parts["label_piece"] = label_piece
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def cached(key: str | None, compute: Callable[[], list[dict]]) -> list[dict]:
    """`compute()`'s rows, from memory or disk when `key` was featurized before."""
    if key is None:
        return compute()
    if key in _memory:
        _memory.move_to_end(key)
        stats["memory"] += 1
        return _memory[key]
    rows = _read(key)
    if rows is not None:
        stats["disk"] += 1
        log.info("features %s: %d rows read from the cache", key[:12], len(rows))
    else:
        rows = compute()
        stats["computed"] += 1
        _write(key, rows)
    _memory[key] = rows
    while len(_memory) > _MEMORY_ENTRIES:
        _memory.popitem(last=False)
    return rows


def clear_memory() -> None:
    _memory.clear()
    _tokenizer_hashes.clear()


def _entry(key: str) -> Path | None:
    return _dir / key[:2] / key if _dir is not None else None


def _read(key: str) -> list[dict] | None:
    path = _entry(key)
    if path is None or not (path / "rows.json").is_file():
        return None
    from datasets import load_from_disk

    try:
        meta = json.loads((path / "rows.json").read_text())
        if meta["rows"] == 0:
            return []
        rows = load_from_disk(str(path / "arrow")).to_list()
        if len(rows) != meta["rows"]:
            raise ValueError(f"{len(rows)} rows, expected {meta['rows']}")
    except Exception as e:  # noqa: BLE001 - a broken entry is recomputed, never trusted
        log.warning("feature cache: ignoring unreadable entry %s (%s)", path, e)
        shutil.rmtree(path, ignore_errors=True)
        return None
    return rows


def _write(key: str, rows: list[dict]) -> None:
    path = _entry(key)
    if path is None:
        return
    import datasets as ds_tqdm
    from datasets import Dataset

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=path.parent))
    quiet = ds_tqdm.are_progress_bars_disabled()
    try:
        if rows:
            ds_tqdm.disable_progress_bars()  # a sub-second write: no bar in the stage's log
            Dataset.from_list(rows).save_to_disk(str(tmp / "arrow"))
        (tmp / "rows.json").write_text(json.dumps({"rows": len(rows), "version": VERSION}))
        try:
            os.rename(tmp, path)
        except OSError:  # another process wrote the same entry meanwhile: keep theirs
            pass
    except Exception as e:  # noqa: BLE001 - the cache is an optimisation, never a failure
        log.warning("feature cache: could not write %s (%s)", path, e)
    finally:
        if not quiet:
            ds_tqdm.enable_progress_bars()
        shutil.rmtree(tmp, ignore_errors=True)
