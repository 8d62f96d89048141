"""Start-up cost of each stage script: what a stage pays before it does its work.

For each stage script of `dvc.yaml`, in a fresh interpreter (median of ``--runs``): the seconds
to run the script's imports (`runpy`, without its `__main__` block; plus, for
`pipeline/cell.py`, `xstilts.core.cell`, which `run_stage` imports), then `stage_setup`
(logging, params validation), then for the stages
that log to MLflow, opening the tracking store (`MlflowClient` on an existing sqlite store and
one query, as `xstilts.core.tracking` does at the first log). Also `python -c pass`, the floor.
With ``--profile`` it prints the slowest imports of the cell stage (`python -X importtime`).

The issue's goal is <= 2 s per stage; the figures say which part is over it.

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

ROOT = Path(__file__).resolve().parents[1]

# stage script -> (modules its stage kind imports beyond the script's own imports, logs to MLflow)
STAGES = {
    "prepare_data.py": ([], False),
    "prepare_model.py": ([], False),
    "cell.py": (["xstilts.core.cell"], True),  # imported by families.run_stage
    "export.py": ([], False),
    "report.py": ([], True),
    "study_analyse.py": ([], False),
}

PROBE = r"""
import json, runpy, sys, time
t0 = time.perf_counter()
runpy.run_path({script!r}, run_name="probe")  # the script's own imports, not its __main__ block
for m in {mods!r}:
    __import__(m)
t1 = time.perf_counter()
from xstilts.core.stage import stage_setup
stage_setup("bench")
t2 = time.perf_counter()
if {mlflow!r}:
    from mlflow.tracking import MlflowClient
    MlflowClient({uri!r}).search_experiments(max_results=1)
t3 = time.perf_counter()
print(json.dumps({{"imports": t1 - t0, "stage_setup": t2 - t1, "mlflow": t3 - t2}}))
"""


def _run(code: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _wall(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t


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
    ap.add_argument("--runs", type=int, default=3, help="fresh interpreters per stage (median)")
    ap.add_argument("--profile", action="store_true", help="the cell stage's slowest imports")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        # create the store (its migrations) once, outside the timed runs
        _run(PROBE.format(script="pipeline/report.py", mods=[], mlflow=True, uri=uri))
        floor = statistics.median(_wall([sys.executable, "-c", "pass"]) for _ in range(a.runs))
        print(f"python -c pass: {floor:.2f} s (the floor)\n")
        print("| stage script | imports (s) | + stage_setup (s) | + MLflow store (s) | total (s) "
              "| <= 2 s |")
        print("|---|---|---|---|---|---|")
        results = {"python_floor": floor, "stages": {}}
        for script, (mods, mlflow) in STAGES.items():
            code = PROBE.format(script=f"pipeline/{script}", mods=mods, mlflow=mlflow, uri=uri)
            runs = [_run(code) for _ in range(a.runs)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            total = floor + sum(med.values())
            results["stages"][script] = {**med, "total": total}
            print(f"| {script} | {med['imports']:.2f} | {med['stage_setup']:.2f} | "
                  f"{med['mlflow']:.2f} | {total:.2f} | {'yes' if total <= 2 else 'no'} |")
    if a.profile:
        print("\nslowest imports of the cell stage (cumulative s):")
        for sec, name in profile(15):
            print(f"  {sec:5.2f}  {name}")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
