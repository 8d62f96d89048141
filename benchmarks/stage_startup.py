"""Start-up cost of each stage script: what a stage pays before it does its work.

For each stage script of `dvc.yaml`, launched as DVC launches it (`python pipeline/<script>
<args>` in the project root), median of ``--runs``: the wall seconds from the launch until the
stage's set-up is done (imports, logging, params validated: `stage_setup` exits there when
`XSTILTS_STAGE_PROBE` is set), plus what the stage still pays before its work:
  * the modules it imports later and had not imported yet (`xstilts.core.cell` for the cell
    stages, imported by `run_stage`; measured in a fresh interpreter after the script's imports);
  * for the stages that log to MLflow, opening the tracking store (`MlflowClient` on an existing
    sqlite store and one query, as `xstilts.core.tracking` does at the first log; with `mlflow`
    already imported, as it is in the host; its import is counted where it was missing).

Two ways a stage starts, side by side:
  * **own interpreter** (`XSTILTS_STAGE_HOST=0`): every stage imports torch, transformers, ...;
  * **warm host** (the default, `xstilts.core.host`): the stage runs in a fork of a host that
    has done those imports; the host is started and awaited first (its cold start is printed).

Also `python -c pass`, the floor. With ``--profile`` it prints the slowest imports of the cell
stage in its own interpreter (`python -X importtime`). The issue's goal is <= 2 s per stage.

Usage (project root, venv active, quiet machine):
    HF_HUB_OFFLINE=1 python benchmarks/stage_startup.py --runs 3 --profile
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from xstilts.core import host
from xstilts.core.stage import PROBE

ROOT = Path(__file__).resolve().parents[1]

# stage script -> (arguments of one of its stages, modules `run_stage` imports later, logs)
STAGES = {
    "prepare_data.py": (["cldr_region"], [], False),
    "prepare_model.py": ([], [], False),
    "scaling_model.py": (["e5_l1"], [], False),
    "cell.py": (["target", "none", "xcat_pair", "0"], ["xstilts.core.cell"], True),
    "export.py": (["none", "0"], [], False),
    "report.py": ([], [], True),
    "study_analyse.py": (["volume"], [], False),
}

LATER = r"""
import runpy, sys, time
sys.argv = [{script!r}]
runpy.run_path({script!r}, run_name="probe")  # the script's own imports, not its __main__ block
t = time.perf_counter()
for m in {mods!r}:
    __import__(m)
print(time.perf_counter() - t)
"""

STORE = r"""
import sys, time
import mlflow
from mlflow.tracking import MlflowClient
t = time.perf_counter()
MlflowClient({uri!r}).search_experiments(max_results=1)
print(time.perf_counter() - t)
"""


def _env(hosted: bool, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    return {**env, "HF_HUB_OFFLINE": "1", host.SWITCH: "1" if hosted else "0",
            host.IDLE: "120", PROBE: "1", **extra}


def launch(script: str, args: list[str], hosted: bool) -> tuple[float, list[str]]:
    """(seconds from launch to the end of the stage's set-up, modules imported by then)."""
    t = time.time()
    out = subprocess.run([sys.executable, f"pipeline/{script}", *args], cwd=ROOT,
                         env=_env(hosted), capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{script} failed:\n{out.stderr[-2000:]}")
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    return probe["setup_done"] - t, probe["imported"]


def _seconds(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(False),
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def start_host() -> float:
    """Start the host of this project's stages and wait until it is ready: seconds taken."""
    key = host.key_of("pipeline/cell.py", _env(True), cwd=str(ROOT))
    log = Path(host.log_path(key))
    ready = log.read_text().count(" ready") if log.exists() else 0
    t = time.time()
    launch("prepare_model.py", [], hosted=True)  # no host yet: runs in its own interpreter
    while not (log.exists() and log.read_text().count(" ready") > ready):
        if time.time() - t > 300:
            raise SystemExit(f"the host did not start: {log}")
        time.sleep(0.1)
    return time.time() - t


def profile(top: int) -> list[tuple[float, str]]:
    """The `top` slowest imports (cumulative seconds) under `import xstilts.core.cell`."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", "import xstilts.core.cell"],
                       cwd=ROOT, capture_output=True, text=True, check=True)
    rows = []
    for line in r.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cum, name = (x.strip() for x in line[len("import time:"):].split("|"))
        rows.append((int(cum) / 1e6, name))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="launches per stage and mode (median)")
    ap.add_argument("--profile", action="store_true", help="the cell stage's slowest imports")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args()
    med = statistics.median

    floor = med(_wall() for _ in range(a.runs))
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        _seconds(STORE.format(uri=uri))  # create the store (its migrations), untimed
        store = med(_seconds(STORE.format(uri=uri)) for _ in range(a.runs))
    cold = start_host()
    print(f"python -c pass: {floor:.2f} s (the floor); MLflow store open (mlflow imported): "
          f"{store:.2f} s; the host's cold start (imports, once per code version): {cold:.1f} s"
          "\n")
    print("| stage script | own interpreter: launch to set-up / + later imports / + MLflow "
          "store = total (s) | warm host: launch to set-up / + MLflow store = total (s) | "
          "<= 2 s (host) |")
    print("|---|---|---|---|")
    results: dict = {"python_floor": floor, "mlflow_store": store, "host_cold_start": cold,
                     "stages": {}}
    for script, (args, later, logs) in STAGES.items():
        row = {}
        for mode in ("own", "host"):
            runs = [launch(script, args, hosted=mode == "host") for _ in range(a.runs)]
            setup = med(r[0] for r in runs)
            missing = [m for m in later if m not in runs[0][1]]
            if logs and "mlflow" not in runs[0][1]:
                missing.append("mlflow")
            lazy = (med(_seconds(LATER.format(script=f"pipeline/{script}", mods=missing))
                        for _ in range(a.runs)) if missing else 0.0)
            row[mode] = {"setup": setup, "later_imports": lazy, "later_modules": missing,
                         "mlflow_store": store if logs else 0.0,
                         "total": setup + lazy + (store if logs else 0.0)}
        results["stages"][script] = row
        o, h = row["own"], row["host"]
        print(f"| {script} | {o['setup']:.2f} / {o['later_imports']:.2f} / "
              f"{o['mlflow_store']:.2f} = {o['total']:.2f} | {h['setup']:.2f} / "
              f"{h['mlflow_store'] + h['later_imports']:.2f} = {h['total']:.2f} | "
              f"{'yes' if h['total'] <= 2 else 'no'} |", flush=True)
    if a.profile:
        print("\nslowest imports of the cell stage in its own interpreter (cumulative s):")
        for sec, name in profile(15):
            print(f"  {sec:5.2f}  {name}")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1) + "\n")


def _wall() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
