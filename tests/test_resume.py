"""Resumable training: SIGKILL at random steps and during a checkpoint write, resume, and get
exactly the metrics and weights of an uninterrupted run (CPU, fp32); damaged states are never
used; a changed configuration never resumes a stale state; one seed, one result."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from xstilts.core import cell, data, families, paths, prepare_model, tracking
from xstilts.core.params import parse_params
from xstilts.core.resume import MANIFEST, STATE, Checkpointer

from .test_multitask import mixture_params

EVERY = 2  # checkpoint interval (steps) of these tests

DRIVER = '''
"""Run one training stage as `dvc repro` would, optionally killing itself (SIGKILL)."""
import os, signal, sys

from xstilts.core import resume, train
from xstilts.core.stage import stage_setup
from xstilts.core.families import run_stage


def die():
    os.kill(os.getpid(), signal.SIGKILL)


after = int(os.environ.get("KILL_AFTER_STEPS", "0"))
if after:  # SIGKILL right after optimiser step number `after` of this process
    real_progress = train.progress

    def progress(*a, **k):
        bar = real_progress(*a, **k)
        update, done = bar.update, [0]

        def counted(n=1):
            update(n)
            done[0] += n
            if done[0] >= after:
                die()

        bar.update = counted
        return bar

    train.progress = progress
nth = int(os.environ.get("KILL_AT_FSYNC", "0"))
if nth:  # SIGKILL in the middle of a checkpoint write (before fsync call number `nth`)
    real_fsync, calls = resume._fsync, [0]

    def fsync(path):
        calls[0] += 1
        if calls[0] == nth:
            die()
        real_fsync(path)

    resume._fsync = fsync
kind, *args = sys.argv[1:]  # a stage of any family, e.g. volume_target cldr_region 0.5 xcat_pair 0
p = stage_setup(f"{kind}@{'-'.join(args)}")
run_stage(p, kind, *args)
'''


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_encoder_dir):
    """Prepared data, base model, params.yaml (cldr_region: 3 epochs of 5 steps, a state
    every 2 steps)."""
    tmp = tmp_path_factory.mktemp("resume")
    raw = mixture_params(tiny_encoder_dir, tmp)
    raw["runtime"]["checkpoint_every"] = EVERY
    hp = {"epochs": 3, "max_length": 32, "batch_size": 8, "evals_per_epoch": 2, "lr": 2e-3}
    raw["intermediate"]["hparams"] |= {"cldr_region": hp, "mix": {**hp, "epochs": 2}}
    raw["target"]["hparams"]["xcat_pair"] = hp
    # one cell of each study family (resumed as the main grid's, test_study_families_...)
    raw["tasks"]["cldr_qa"] = {"source": "embedded", "max_train": 16, "max_eval": 8,
                               "languages": ["en", "de"]}
    raw["tasks"]["xcat_qa"] = {"source": "embedded", "max_train": 8, "max_eval": 4}
    raw["target"]["hparams"]["xcat_qa"] = {**hp, "epochs": 1, "max_length": 64}
    raw["target"]["tasks"] = [*raw["target"]["tasks"], "xcat_qa"]
    raw["studies"] |= {"run": ["volume", "multilingual", "scaling"],
                       "volume": {"itasks": ["cldr_region"], "targets": ["xcat_pair"],
                                  "fractions": [0.5]},
                       "multilingual": {"variants": {
                           "en_only": {"task": "cldr_qa", "languages": ["en"]},
                           "multi": {"task": "cldr_qa", "languages": ["en", "de"]}},
                           "targets": ["xcat_qa"], "hparams": {"cldr_qa": hp}},
                       "scaling": {"models": ["enc"], "itasks": ["none", "cldr_region"],
                                   "targets": ["xcat_pair"],
                                   "specs": {"enc": {"source": "hub",
                                                     "name": str(tiny_encoder_dir)}}}}
    text = yaml.safe_dump(raw, sort_keys=False)
    (tmp / "params.yaml").write_text(text)
    (tmp / "driver.py").write_text(DRIVER)
    p = parse_params(text)
    mp = pytest.MonkeyPatch()
    mp.chdir(tmp)
    for name, src in p.tasks.items():
        data.prepare_task(name, src, paths.DATA / name)
    prepare_model.prepare_model_stage(p)
    yield tmp, p
    mp.undo()


def _run(tmp: Path, args: list[str], **env: int) -> subprocess.CompletedProcess:
    full = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
            **{k: str(v) for k, v in env.items()}}
    return subprocess.run([sys.executable, "driver.py", *args], cwd=tmp, env=full,
                          capture_output=True, text=True, timeout=600)


def _outcome(out: Path) -> dict:
    """What must not depend on interruptions: dev curve, selection, every weight file."""
    train = json.loads((out / "train.json").read_text())
    weights = {str(f.relative_to(out)): hashlib.sha256(f.read_bytes()).hexdigest()
               for f in sorted(out.rglob("*.safetensors"))}
    return {"history": train["history"], "best_dev": train["best_dev"],
            "best_step": train["best_step"], "weights": weights}


def _states(cell: Path) -> list[Path]:
    return sorted(cell.glob("*/ckpt-*"))


def _reference(tmp: Path, args: list[str], out: Path, cell: Path) -> dict:
    done = _run(tmp, args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not cell.exists(), "the resume state must be removed after a finished stage"
    ref = _outcome(out)
    assert "resumed_from_step" not in json.loads((out / "train.json").read_text())
    return ref


def test_sigkill_anywhere_then_resume_gives_the_uninterrupted_result(workdir):
    tmp, p = workdir
    args = ["intermediate", "cldr_region", "0"]
    out = tmp / paths.intermediate_dir("cldr_region", 0)
    cell = tmp / p.runtime.resume_dir / "intermediate" / "cldr_region" / "seed0"
    ref = _reference(tmp, args, out, cell)
    assert len(ref["history"]) == 8  # 15 steps (40 rows, batch 8, 3 epochs), dev every 2
    assert ref["best_step"] > EVERY  # the selected state is found after the first kill below
    rng = random.Random(0)
    logs = []

    # 1. killed right after a random optimiser step (a state exists, the best is ahead)
    run = _run(tmp, args, KILL_AFTER_STEPS=rng.randint(EVERY + 1, ref["best_step"]))
    assert run.returncode == -signal.SIGKILL
    first = _states(cell)
    assert first, "no state was saved before the kill"
    # 2. resumed, then killed in the middle of writing its next state: a partial folder
    #    is left; it is never taken for a state
    run = _run(tmp, args, KILL_AT_FSYNC=3)
    assert run.returncode == -signal.SIGKILL
    assert "resume: continuing from" in run.stderr
    assert list(cell.glob("*/.tmp-*")), "the kill did not interrupt a checkpoint write"
    assert _states(cell) == first
    # 3. resumed, killed again after a few more steps
    run = _run(tmp, args, KILL_AFTER_STEPS=rng.randint(3, 5))
    assert run.returncode == -signal.SIGKILL
    assert "resume: continuing from" in run.stderr
    # 4. the newest state is damaged on disk (same size, one byte changed): detected by its
    #    checksum and skipped for the previous good one
    newest = _states(cell)[-1]
    assert len(_states(cell)) == 2
    blob = bytearray((newest / STATE).read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (newest / STATE).write_bytes(bytes(blob))
    # 5. killed at a random moment from outside, once a state exists
    proc = subprocess.Popen([sys.executable, "driver.py", *args], cwd=tmp,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    before, deadline = set(_states(cell)), time.time() + 120
    while proc.poll() is None and time.time() < deadline and set(_states(cell)) <= before:
        time.sleep(0.005)  # wait until it writes a state of its own, then kill it at random
    time.sleep(rng.uniform(0.0, 0.3))
    proc.send_signal(signal.SIGKILL)
    logs.append(proc.communicate()[1])
    killed = proc.returncode == -signal.SIGKILL
    # 6. run to the end
    run = _run(tmp, args)
    assert run.returncode == 0, run.stderr[-3000:]
    logs.append(run.stderr)
    assert "is damaged" in "".join(logs)
    assert _outcome(out) == ref
    if killed:
        assert "resumed_from_step" in json.loads((out / "train.json").read_text())
    assert not cell.exists()


def test_mixture_and_target_resume_exactly(workdir):
    tmp, p = workdir
    for args, out, state in [
        (["intermediate", "mix", "0"], paths.intermediate_dir("mix", 0), "intermediate/mix/seed0"),
        (["target", "mix", "xcat_pair", "0"], paths.target_dir("mix", "xcat_pair", 0),
         "target/mix/xcat_pair/seed0"),
    ]:
        _kill_twice_then_finish(tmp, p, args, out, state)


STUDY_CELLS = [  # (stage arguments, output, resumable-state folder) of one cell per family
    (["volume_intermediate", "cldr_region", "0.5", "0"],
     "models/volume/intermediate/cldr_region/frac0.5/seed0",
     "volume/intermediate/cldr_region/frac0.5/seed0"),
    (["multilingual_intermediate", "multi", "0"], "models/multilingual/intermediate/multi/seed0",
     "multilingual/intermediate/multi/seed0"),
    (["scaling_target", "enc", "none", "xcat_pair", "0"],
     "models/scaling/enc/target/none/xcat_pair/seed0", "scaling/enc/target/none/xcat_pair/seed0"),
]


@pytest.mark.parametrize("args,out,state", STUDY_CELLS, ids=[c[0][0] for c in STUDY_CELLS])
def test_study_families_resume_exactly(workdir, args, out, state):
    """Each study family runs the main grid's cell code: SIGKILLed after a step and during a
    state write, it resumes to exactly the uninterrupted result."""
    tmp, p = workdir
    if args[0] == "scaling_target":  # its inputs: the scaling base model and `none` checkpoint
        from xstilts.core.prepare_model import prepare_scaling_model

        prepare_scaling_model(p, "enc")
        families.run_stage(p, "scaling_intermediate", "enc", "none", 0)
    _kill_twice_then_finish(tmp, p, args, Path(out), state)


def _kill_twice_then_finish(tmp: Path, p, args: list[str], out: Path, state: str) -> None:
    out, cell = tmp / out, tmp / p.runtime.resume_dir / state
    ref = _reference(tmp, args, out, cell)
    run = _run(tmp, args, KILL_AFTER_STEPS=5)
    assert run.returncode == -signal.SIGKILL
    run = _run(tmp, args, KILL_AT_FSYNC=2)
    assert run.returncode == -signal.SIGKILL
    run = _run(tmp, args)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "resume: continuing from" in run.stderr
    assert _outcome(out) == ref, args
    assert not cell.exists()


def _bytes(*roots: Path) -> dict[str, str]:
    """sha256 of every file under `roots` but `run.json` (the MLflow run id, new each run)."""
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest()
            for r in roots for f in sorted([r] if r.is_file() else r.rglob("*"))
            if f.is_file() and f.name != tracking.RUN_FILE}


def test_same_seed_same_result(workdir, monkeypatch):
    """Two uninterrupted runs with one seed: identical dev curves and weights, and the same
    bytes in the dev record and every checkpoint file but the MLflow run id (no timings in the
    outputs: the studies, which read metrics/, do not re-run after a re-run cell)."""
    tmp, p = workdir
    monkeypatch.chdir(tmp)
    p = p.model_copy(update={"runtime": p.runtime.model_copy(update={"checkpoint_every": None})})
    for itask in ("cldr_region", "mix"):
        out = paths.intermediate_dir(itask, 0)
        record = paths.dev_file("intermediate", itask, 0)
        families.run_stage(p, "intermediate", itask, 0)
        first, first_bytes = _outcome(out), _bytes(out, record)
        assert str(record) in first_bytes and str(out / "train.json") in first_bytes
        families.run_stage(p, "intermediate", itask, 0)
        assert _outcome(out) == first, itask
        assert _bytes(out, record) == first_bytes, itask


def _state(ck: Checkpointer, step: int, value: float) -> Path:
    tensors = {"model.w": torch.full((4, 4), value), "rng.torch": torch.get_rng_state()}
    best = {"w": torch.full((4, 4), -value)}
    return ck.save(step, tensors, best, step, {"step": step, "x": value})


def test_checkpointer_atomic_checksummed_keyed(tmp_path, caplog):
    cell = tmp_path / "intermediate" / "t" / "seed0"
    ck = Checkpointer(cell, "key-a", every=2)
    assert ck.load() is None  # nothing yet: a fresh start
    for step in (2, 4, 6):
        _state(ck, step, float(step))
    assert [c.name for c in ck.checkpoints()] == ["ckpt-000000006", "ckpt-000000004"]
    files = {f.name for c in ck.checkpoints() for f in c.iterdir()}
    assert files == {"state.safetensors", "best.safetensors", "meta.json", MANIFEST}
    meta, tensors, best = ck.load()
    assert meta["step"] == 6 and torch.equal(tensors["model.w"], torch.full((4, 4), 6.0))
    assert torch.equal(best["w"], torch.full((4, 4), -6.0))
    # an unchanged best state is shared (hard link), not rewritten
    tensors = {"model.w": torch.zeros(2)}
    ck.save(8, tensors, {"w": torch.full((4, 4), -6.0)}, 6, {"step": 8})
    assert os.path.samefile(cell / "key-a" / "ckpt-000000008" / "best.safetensors",
                            cell / "key-a" / "ckpt-000000006" / "best.safetensors")
    # truncated newest file: skipped (and removed) with a warning, the previous one is used
    newest = cell / "key-a" / "ckpt-000000008" / STATE
    newest.write_bytes(newest.read_bytes()[:-3])
    with caplog.at_level("WARNING"):
        meta, _, _ = Checkpointer(cell, "key-a", 2).load()
    assert meta["step"] == 6 and "damaged" in caplog.text
    # no manifest (the write was interrupted before it): never used
    (cell / "key-a" / "ckpt-000000006" / MANIFEST).unlink()
    assert Checkpointer(cell, "key-a", 2).load() is None
    # another configuration: the old states are deleted, never resumed
    ck_a = Checkpointer(cell, "key-a", 2)
    _state(ck_a, 2, 1.0)
    ck_b = Checkpointer(cell, "key-b", 2)
    ck_b.drop_stale()
    assert not (cell / "key-a").exists() and ck_b.load() is None


def test_config_key_changes_with_what_the_result_depends_on(workdir, monkeypatch):
    tmp, p = workdir
    monkeypatch.chdir(tmp)
    hp = p.intermediate_hparams("cldr_region")

    def key(**kw) -> str:
        args = {"p": p, "cell": "intermediate/cldr_region/seed0", "init": paths.BASE, "hp": hp,
                "seed": 0, "name": "cldr_region", "mixture": None, "bf16": False,
                "device": "cpu"} | kw
        return cell._checkpointer(**args).key

    base = key()
    assert key() == base
    assert key(hp=hp.model_copy(update={"lr": 1e-3})) != base
    assert key(seed=1) != base
    assert key(bf16=True) != base
    assert key(mixture=p.mixture("mix"), name="mix") != base
    # the initial checkpoint's contents are part of the key
    copy = tmp / "base-copy"
    shutil.copytree(paths.BASE, copy)
    assert key(init=copy) == base  # same contents, same key
    w = next(copy.glob("*.safetensors"))
    blob = bytearray(w.read_bytes())
    blob[-1] ^= 0x01
    w.write_bytes(bytes(blob))
    assert key(init=copy) != key(init=paths.BASE)
