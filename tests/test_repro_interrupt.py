"""`dvc repro` killed (SIGKILL to its whole process group) in the middle of a training stage,
then re-run: no stage recorded in dvc.lock has outputs that differ from the lock, the re-run
re-runs only the unfinished stages (training resumes from its saved state), `dvc status` is clean
at the end, and the evaluation metrics equal those of an uninterrupted `dvc repro` of a second
copy with the same params and seed.

Observed DVC behaviour after a SIGKILL (DVC 3.x):
- dvc.lock is written stage by stage, after a stage's command has finished and its outputs are
  committed; the killed stage (and everything after it) simply has no lock entry, so
  `dvc status` lists it, and the next `dvc repro` runs it again (DVC first deletes its partial
  outputs).
- `.dvc/tmp/lock` is an fcntl lock released by the kernel when the process dies; the re-run
  needs no cleanup. `.dvc/tmp/rwlock` keeps the dead PID's entries; a later DVC command whose
  paths overlap them (`dvc status` reading the killed stage's outs, `dvc repro` writing them)
  sees that the PID is gone, drops them itself and tells the user with a warning "Process
  '...' with (Pid N), in RWLock-file '...' had been killed. Auto removed it from the lock
  file." (seen from `dvc status` and again at the start of the next `dvc repro`). Read
  entries on paths nothing writes (the stage's script, src, params.yaml) stay in the file,
  harmlessly. Only if a recorded PID were alive (reused) would DVC refuse with
  "'...' is busy, it is being blocked by: ... you can manually remove '.dvc/tmp/rwlock' and
  try again". This test never removes either lock file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.test_cell import studies_only
from tests.test_pipeline_e2e import DVC, repo, run  # noqa: F401  (repo: the fixture)

RESUME = Path(".xstilts/resume")
TIMEOUT = 300  # seconds for any one `dvc repro`


def _small_grid(path: Path) -> None:
    """The smallest grid with training in both phases: {none, cldr_region} x {xcat_pair}, no
    retrieval, no studies; a resumable state every 2 steps, one torch thread."""
    raw = yaml.safe_load((path / "params.yaml").read_text())
    hp = {"epochs": 4, "max_length": 32, "batch_size": 8, "evals_per_epoch": 2}
    raw["intermediate"]["tasks"] = ["none", "cldr_region"]
    raw["intermediate"]["hparams"] = {"none": None, "cldr_region": hp}
    raw["target"]["tasks"] = ["xcat_pair"]
    raw["target"]["hparams"] = {"xcat_pair": {**hp, "max_length": 48}}
    raw["tasks"] = {t: raw["tasks"][t] for t in ("cldr_region", "xcat_pair")}
    raw["evaluate"]["retrieval_tasks"] = []
    studies_only(raw, [])
    raw["runtime"] |= {"checkpoint_every": 2, "threads": 1}
    (path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def _start_repro(path: Path, log: Path) -> subprocess.Popen:
    """`dvc repro` in its own process group (session), output to `log` (the env of `run`)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    with log.open("w") as f:
        return subprocess.Popen([DVC, "repro"], cwd=path, env=env, stdout=f,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _kill_group(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # dvc and the stage command (its children) at once
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _wait_for(proc: subprocess.Popen, cond, what: str, timeout: float = TIMEOUT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        hit = cond()
        if hit:
            return hit
        if proc.poll() is not None:
            return None  # the run ended before `cond` held
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"timed out waiting for {what}")


def _saved_state(path: Path) -> Path | None:
    """A training cell's folder under the resume dir once it holds a finished state."""
    root = path / RESUME
    if not root.is_dir():
        return None
    for ckpt in root.glob("**/ckpt-*"):
        return ckpt.parent.parent  # <phase>/<task...>/seed<s>
    return None


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _lock_mismatches(path: Path) -> list[str]:
    """Outputs of the stages recorded in dvc.lock whose contents on disk differ from the
    recorded hashes (computed here, independently of `dvc status`)."""
    lock = yaml.safe_load((path / "dvc.lock").read_text()) if (path / "dvc.lock").exists() else {}
    bad = []
    for stage, entry in (lock or {}).get("stages", {}).items():
        for out in entry.get("outs", []):
            target = path / out["path"]
            if out["md5"].endswith(".dir"):
                h = out["md5"][: -len(".dir")]
                manifest = path / ".dvc/cache/files/md5" / h[:2] / f"{h[2:]}.dir"
                want = {e["relpath"]: e["md5"] for e in json.loads(manifest.read_text())}
                have = ({str(f.relative_to(target)): _md5(f) for f in target.rglob("*")
                         if f.is_file()} if target.is_dir() else {})
                if have != want:
                    bad.append(f"{stage}: {out['path']}")
            elif not target.is_file() or _md5(target) != out["md5"]:
                bad.append(f"{stage}: {out['path']}")
    return bad


def _locked_stages(path: Path) -> set[str]:
    if not (path / "dvc.lock").exists():
        return set()
    return set((yaml.safe_load((path / "dvc.lock").read_text()) or {}).get("stages", {}))


def _status(path: Path) -> tuple[dict, str]:
    """`dvc status --json` (stdout's JSON line) and the rest of what it printed (warnings)."""
    lines = run([DVC, "status", "--json"], path).splitlines()
    doc = next(ln for ln in lines if ln.startswith("{"))
    return json.loads(doc), "\n".join(ln for ln in lines if ln != doc)


def _ran(log: str) -> set[str]:
    return {ln.split("'")[1] for ln in log.splitlines() if ln.startswith("Running stage")}


def _eval_metrics(path: Path) -> dict[str, str]:
    return {str(f.relative_to(path)): f.read_text()
            for f in sorted((path / "metrics/eval").rglob("*.json"))}


def _check_consistent(path: Path, killed_stage: str) -> tuple[set[str], set[str]]:
    """After a kill: every locked stage matches its lock; `dvc status` lists only the others.
    The dead `dvc repro` left its entries in .dvc/tmp/rwlock: the first DVC command after the
    kill drops them itself and says so (no manual lock removal)."""
    assert _lock_mismatches(path) == []
    locked = _locked_stages(path)
    assert killed_stage not in locked
    status, said = _status(path)
    assert "had been killed. Auto removed it from the lock file." in said, said
    listed = set(status)
    assert killed_stage in listed
    assert not listed & locked, f"completed stages reported as changed: {listed & locked}"
    print(f"\nafter the kill in {killed_stage}: dvc status says {status[killed_stage]}")
    return locked, listed


@pytest.fixture(scope="module")
def copies(repo, tmp_path_factory):  # noqa: F811
    """Two identical copies of the small-grid repo: (to interrupt, reference)."""
    _small_grid(repo)
    ref = tmp_path_factory.mktemp("reference") / "repo"
    shutil.copytree(repo, ref, symlinks=True)
    return repo, ref


def test_repro_killed_mid_stage_then_rerun_matches_uninterrupted(copies, tmp_path):
    work, ref = copies
    t0 = time.time()
    reference = _start_repro(ref, tmp_path / "reference.log")  # runs alongside
    try:
        _interrupt_and_compare(work, ref, reference, tmp_path, t0)
    finally:  # never leave a `dvc repro` running behind a failed test
        if reference.poll() is None:
            os.killpg(reference.pid, signal.SIGKILL)


def _interrupt_and_compare(work: Path, ref: Path, reference: subprocess.Popen, tmp_path: Path,
                           t0: float) -> None:
    timings = {}
    # 1. kill the whole `dvc repro` process group in the middle of a training stage, as soon as
    #    the stage has saved a resumable state (training is under way, its outputs emptied)
    proc = _start_repro(work, tmp_path / "run1.log")
    cell = _wait_for(proc, lambda: _saved_state(work), "a training stage's saved state")
    assert cell is not None, (tmp_path / "run1.log").read_text()[-3000:]
    _kill_group(proc)
    timings["kill 1"] = time.time() - t0
    log1 = (tmp_path / "run1.log").read_text()
    phase, *names = cell.relative_to(work / RESUME).parts
    stage = f"{phase}@{'-'.join([*names[:-1], names[-1].removeprefix('seed')])}"
    assert f"Running stage '{stage}'" in log1, log1[-3000:]
    assert list(cell.glob("*/ckpt-*")), "the saved state went missing"
    locked, listed = _check_consistent(work, stage)
    checked = [(locked, listed)]
    assert {"prepare_model", "prepare_data@cldr_region", "prepare_data@xcat_pair"} <= locked

    # 2. optional: re-run and kill while the stage writes its output folder (files appear in
    #    it only after training, train.json last)
    out = work / ("models/" + "/".join([phase, *names]))

    def writing():
        try:
            files = os.listdir(out)
        except FileNotFoundError:
            return False
        return bool(files) and "train.json" not in files

    proc = _start_repro(work, tmp_path / "run2.log")
    caught = _wait_for(proc, writing, f"{stage} writing {out}")
    log2 = (tmp_path / "run2.log").read_text()
    if caught:
        _kill_group(proc)
        timings["kill 2 (output write)"] = time.time() - t0
        log2 = (tmp_path / "run2.log").read_text()
        assert "resume: continuing from" in log2, log2[-3000:]
        locked, listed = _check_consistent(work, stage)
        checked.append((locked, listed))
    else:  # missed the write window: the run went on to the end
        assert proc.wait(timeout=TIMEOUT) == 0, log2[-3000:]
    print(f"\nkill during the output write of {stage}: {'done' if caught else 'missed'}")

    # 3. run to the end: only unfinished stages run, the killed one resumes its state
    final = run([DVC, "repro"], work)
    timings["rerun done"] = time.time() - t0
    reran = _ran(log2) | _ran(final)
    done_before = checked[0][0]  # stages completed before the first kill never run again
    assert stage in reran and not reran & done_before, (reran, done_before)
    assert "resume: continuing from" in log2 + final
    assert "up to date" in run([DVC, "status"], work)
    assert _lock_mismatches(work) == []
    every = _locked_stages(work)
    for locked, listed in checked:  # after each kill status listed exactly the unfinished ones
        assert listed == every - locked, (listed, every - locked)
    assert not (work / RESUME).exists() or not any((work / RESUME).rglob("ckpt-*"))

    # 4. the same evaluation metrics as the uninterrupted copy
    assert reference.wait(timeout=TIMEOUT) == 0, (tmp_path / "reference.log").read_text()[-3000:]
    timings["reference done"] = time.time() - t0
    assert "up to date" in run([DVC, "status"], ref)
    got, want = _eval_metrics(work), _eval_metrics(ref)
    assert len(want) == 2 and got == want
    print("timings (s since start):", {k: round(v, 1) for k, v in timings.items()})
