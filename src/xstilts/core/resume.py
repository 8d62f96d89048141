"""Resumable training state on disk: atomic, checksummed, keyed by the cell's configuration.

Layout: `<resume_dir>/<phase>/<cell>/<key>/ckpt-<step>/` with
    state.safetensors   tensors: model, optimiser moments, torch RNG
    best.safetensors    the best dev state so far (hard link to the previous checkpoint's file
                        when it has not changed)
    meta.json           everything else: step, data position, scheduler, python/numpy RNG,
                        losses since the last evaluation, best score and history
    manifest.json       sha256 and size of each file above (written last)

DVC deletes a stage's outs before running it, so this lives outside every out. `<key>` hashes
the configuration (hyperparameters, seed, initial checkpoint and data contents, ...): a changed
configuration never resumes a stale state, and states of other keys are deleted. A checkpoint is
written to a temporary folder, fsynced, then renamed (atomic); a folder whose manifest is
missing or whose checksums do not match is skipped with a warning, and the previous good one
(the two newest are kept) or a fresh start is used instead. No pickle anywhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from xstilts.core.fingerprint import sha256_file

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the state layout changes: old states then get another key
KEEP = 2  # complete checkpoints kept (the newest may be damaged: fall back to the previous)
STATE, BEST, META, MANIFEST = "state.safetensors", "best.safetensors", "meta.json", "manifest.json"


def config_key(config: dict) -> str:
    """Short stable hash of a JSON-able configuration."""
    blob = json.dumps({"format": FORMAT, **config}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _fsync(path: Path) -> None:
    """Flush a file's (or a directory's entries') data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CorruptState(RuntimeError):
    """A checkpoint folder is incomplete or its files do not match its manifest."""


class Checkpointer:
    """Save and find the training state of one cell (see the module docstring)."""

    def __init__(self, cell_dir: Path, key: str, every: int):
        self.cell_dir = Path(cell_dir)
        self.key = key
        self.dir = self.cell_dir / key
        self.every = every
        self._last: Path | None = None  # the last checkpoint loaded (verified) or written

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def drop_stale(self) -> None:
        """Delete states of other configurations of this cell (they can never be resumed)."""
        if not self.cell_dir.is_dir():
            return
        for other in self.cell_dir.iterdir():
            if other.name != self.key:
                log.info("resume: deleting the state of a former configuration: %s", other)
                shutil.rmtree(other, ignore_errors=True)

    def checkpoints(self) -> list[Path]:
        """Complete (renamed) checkpoint folders, newest first."""
        if not self.dir.is_dir():
            return []
        return sorted(self.dir.glob("ckpt-*"), reverse=True)

    def save(self, step: int, tensors: dict[str, torch.Tensor],
             best: dict[str, torch.Tensor] | None, best_step: int, meta: dict) -> Path:
        """Write checkpoint `step` atomically; keep the newest KEEP; return its folder."""
        self.dir.mkdir(parents=True, exist_ok=True)
        final = self.dir / f"ckpt-{step:09d}"
        tmp = self.dir / f".tmp-{step:09d}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        digests: dict[str, dict] = {}
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp / STATE))
        if best is not None:
            prev = self._reusable_best(best_step)
            try:
                if prev is None:
                    raise OSError("no previous best file")
                os.link(prev[0], tmp / BEST)  # unchanged best state: share the file
                digests[BEST] = prev[1]
            except OSError:
                save_file({k: v.contiguous() for k, v in best.items()}, str(tmp / BEST))
        (tmp / META).write_text(json.dumps({**meta, "best_file_step": best_step}))
        for name in (STATE, BEST, META):
            f = tmp / name
            if f.exists():
                _fsync(f)
                if name not in digests:
                    digests[name] = {"sha256": sha256_file(f), "bytes": f.stat().st_size}
        manifest = {"format": FORMAT, "key": self.key, "step": step, "files": digests}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        _fsync(tmp / MANIFEST)
        _fsync(tmp)
        if final.exists():  # a resumed run passing the same step again
            shutil.rmtree(final)
        os.rename(tmp, final)
        _fsync(self.dir)
        self._last = final
        self._prune()
        return final

    def _reusable_best(self, best_step: int) -> tuple[Path, dict] | None:
        """(file, digest) of the last good checkpoint's best state if it is still the best."""
        if self._last is None or not self._last.is_dir():
            return None
        try:
            meta = json.loads((self._last / META).read_text())
            manifest = json.loads((self._last / MANIFEST).read_text())
        except (OSError, ValueError):
            return None
        if meta.get("best_file_step") == best_step and BEST in manifest["files"]:
            return self._last / BEST, manifest["files"][BEST]
        return None

    def _prune(self) -> None:
        for old in self.checkpoints()[KEEP:]:
            shutil.rmtree(old, ignore_errors=True)
        for tmp in self.dir.glob(".tmp-*"):  # left by a killed write
            shutil.rmtree(tmp, ignore_errors=True)

    def verify(self, ckpt: Path) -> dict:
        """The manifest of `ckpt` after checking every file's size and sha256."""
        try:
            manifest = json.loads((ckpt / MANIFEST).read_text())
        except FileNotFoundError:
            raise CorruptState("no manifest (interrupted write)") from None
        except ValueError as e:
            raise CorruptState(f"unreadable manifest: {e}") from None
        if manifest.get("key") != self.key or manifest.get("format") != FORMAT:
            raise CorruptState("manifest of another configuration")
        for name, want in manifest["files"].items():
            f = ckpt / name
            if not f.is_file():
                raise CorruptState(f"{name} is missing")
            if f.stat().st_size != want["bytes"]:
                raise CorruptState(f"{name}: {f.stat().st_size} bytes, manifest says "
                                   f"{want['bytes']}")
            if sha256_file(f) != want["sha256"]:
                raise CorruptState(f"{name}: sha256 does not match the manifest")
        return manifest

    def load(self) -> tuple[dict, dict[str, torch.Tensor], dict[str, torch.Tensor] | None] | None:
        """(meta, tensors, best tensors) of the newest good checkpoint, or None (fresh start)."""
        for ckpt in self.checkpoints():
            try:
                manifest = self.verify(ckpt)
                meta = json.loads((ckpt / META).read_text())
                tensors = load_file(str(ckpt / STATE))
                best = load_file(str(ckpt / BEST)) if BEST in manifest["files"] else None
            except (CorruptState, OSError, ValueError) as e:
                log.warning("resume: %s is damaged (%s); deleting it, trying an older state",
                            ckpt, e)
                shutil.rmtree(ckpt, ignore_errors=True)
                continue
            log.info("resume: continuing from %s (step %d)", ckpt, meta["step"])
            self._last = ckpt
            return meta, tensors, best
        if self.checkpoints():
            log.warning("resume: no usable state in %s; starting afresh", self.dir)
        return None

    def clear(self) -> None:
        """Delete this cell's states (the stage finished and wrote its outputs)."""
        shutil.rmtree(self.cell_dir, ignore_errors=True)
