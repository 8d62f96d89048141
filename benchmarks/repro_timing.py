"""Wall time of `dvc repro` per stage and per stage family, and what a grid of a given size costs.

Runs `dvc repro <args>` in the current project, time-stamps every line it prints, and reports:
  * every stage's wall time (from its "Running stage" line to the next stage's), its family
    (prepare_data, intermediate, target, evaluate, ...) and how many tokenized feature sets it
    read from the feature cache (`xstilts.core.feature_cache` log lines) instead of tokenizing;
  * per family: stages, total and mean seconds;
  * the grid model fitted to those means: wall(I, T, L) = fixed + I * per_itask + T * per_target
    + I * T * (per_cell + (L - L_run) * per_language) (I intermediate tasks incl. the baseline,
    T targets, L evaluation languages, one seed; per_language from the target stages' lines of
    their evaluation, one per language), printed for a few grid sizes: intermediate checkpoints
    are trained once per intermediate task and reused by every target, and tokenized data once
    per (task, tokenizer, max length);
  * the peak RSS of any stage process and, with --noop, the wall time of a second (no-op)
    `dvc repro` against DVC's own start-up (`dvc --version`, a 1-stage project), DVC's floor for
    a graph this size (as many minimal stages: one file dependency, parameter and output each)
    and `dvc status`.

Usage (in the project root, venv active):
    HF_HUB_OFFLINE=1 python benchmarks/repro_timing.py --json benchmarks/results/repro.json
    HF_HUB_OFFLINE=1 python benchmarks/repro_timing.py --noop-only
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

RUNNING = re.compile(r"Running stage '([^']+)'")
FEATURE_HIT = re.compile(r"features [0-9a-f]+: \d+ rows read from the cache")
EVAL_LANG = re.compile(r"evaluate \S+->\S+ seed\d+ (\S+): ")  # one line per evaluated language
PER_ITASK = ("intermediate", "retrieve", "export")
PER_TARGET = ("prepare_data",)
PER_CELL = ("target", "evaluate")  # evaluate: the stages of a checkout before they merged


def family(stage: str) -> str:
    return stage.split("@", 1)[0]


def run_repro(args: list[str]) -> tuple[list[dict], float, float]:
    """(stages in order with seconds and cache hits, total wall seconds, peak child RSS MB)."""
    t0 = time.time()
    proc = subprocess.Popen(["dvc", "repro", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    stages: list[dict] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.time()
        sys.stdout.write(line)
        m = RUNNING.search(line)
        if m:
            if stages:
                stages[-1]["seconds"] = now - stages[-1]["start"]
            stages.append({"stage": m.group(1), "start": now, "feature_cache_hits": 0,
                           "lang_done": []})
        elif stages and FEATURE_HIT.search(line):
            stages[-1]["feature_cache_hits"] += 1
        elif stages and EVAL_LANG.search(line):
            stages[-1]["lang_done"].append(now)
    rc = proc.wait()
    end = time.time()
    if stages:
        stages[-1]["seconds"] = end - stages[-1]["start"]
    if rc:
        raise SystemExit(f"dvc repro failed (exit {rc})")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    for s in stages:
        done = s.pop("lang_done")
        if len(done) >= 2:  # seconds per evaluated language: between consecutive languages
            s["languages"] = len(done)
            s["seconds_per_language"] = round((done[-1] - done[0]) / (len(done) - 1), 2)
        s["start"] = round(s["start"] - t0, 2)
        s["seconds"] = round(s["seconds"], 2)
    return stages, end - t0, rss


def timed(cmd: list[str], repeats: int = 3, cwd: Path | None = None) -> float:
    """Median wall seconds of a command."""
    times = []
    for _ in range(repeats):
        t0 = time.time()
        subprocess.run(cmd, check=True, capture_output=True, cwd=cwd)
        times.append(time.time() - t0)
    return statistics.median(times)


def dvc_floor(n_stages: int) -> float:
    """Median no-op `dvc repro` of a synthetic project of `n_stages` minimal stages (one file
    dependency, one parameter and one output each): what DVC itself needs for a graph that size,
    the floor of this project's no-op."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "in.txt").write_text("x\n")
        (root / "params.yaml").write_text("".join(f"p{i}: {i}\n" for i in range(n_stages)))
        stages = {f"s{i}": {"cmd": f"cp in.txt out{i}.txt", "deps": ["in.txt"],
                            "params": [f"p{i}"], "outs": [f"out{i}.txt"]}
                  for i in range(n_stages)}
        (root / "dvc.yaml").write_text(json.dumps({"stages": stages}, indent=1))
        for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "repro", "-q"]):
            subprocess.run(cmd, cwd=root, check=True, capture_output=True)
        return timed(["dvc", "repro"], cwd=root)


def grid_model(stages: list[dict]) -> dict:
    """Fixed and marginal costs (seconds) from the mean stage time of each family."""
    by_family: dict[str, list[float]] = defaultdict(list)
    for s in stages:
        by_family[family(s["stage"])].append(s["seconds"])
    mean = {f: statistics.mean(v) for f, v in by_family.items()}
    per_itask = sum(mean.get(f, 0.0) for f in PER_ITASK)
    per_target = sum(mean.get(f, 0.0) for f in PER_TARGET)
    per_cell = sum(mean.get(f, 0.0) for f in PER_CELL)
    marginal = set(PER_ITASK) | set(PER_TARGET) | set(PER_CELL)
    fixed = sum(sum(v) for f, v in by_family.items() if f not in marginal)
    # the evaluation languages' share of a cell: seconds per language x languages evaluated
    evals = [s for s in stages if family(s["stage"]) in PER_CELL and "languages" in s]
    per_lang = statistics.mean(s["seconds_per_language"] for s in evals) if evals else 0.0
    langs = round(statistics.mean(s["languages"] for s in evals)) if evals else 0
    return {"fixed": fixed, "per_itask": per_itask, "per_target": per_target,
            "per_cell": per_cell, "per_cell_language": per_lang, "languages": langs,
            "families": {f: {"stages": len(v), "total": sum(v), "mean": statistics.mean(v)}
                         for f, v in by_family.items()}}


def predict(model: dict, i: int, t: int, langs: int | None = None) -> float:
    """Predicted wall seconds of a grid: I intermediate tasks, T targets, `langs` evaluation
    languages per cell (default: as many as this run evaluated)."""
    extra = 0 if langs is None else langs - model["languages"]
    return (model["fixed"] + i * model["per_itask"] + t * model["per_target"]
            + i * t * (model["per_cell"] + extra * model["per_cell_language"]))


def report(stages: list[dict], total: float, rss: float, grids: list[tuple[int, ...]]) -> str:
    model = grid_model(stages)
    lines = [f"dvc repro: {len(stages)} stages, {total / 60:.1f} min wall, peak stage RSS "
             f"{rss:.0f} MB, {sum(s['feature_cache_hits'] for s in stages)} tokenized feature "
             "sets read from the cache", "",
             "| family | stages | total s | mean s |", "|---|---|---|---|"]
    for f, v in sorted(model["families"].items(), key=lambda kv: -kv[1]["total"]):
        lines.append(f"| {f} | {v['stages']} | {v['total']:.0f} | {v['mean']:.1f} |")
    lines += ["", f"grid model: fixed {model['fixed']:.0f} s + I x {model['per_itask']:.0f} s "
              f"+ T x {model['per_target']:.0f} s + I x T x {model['per_cell']:.0f} s "
              "(mean stage times of this run; I counts the baseline); a cell's evaluation "
              f"costs {model['per_cell_language']:.1f} s per language ({model['languages']} "
              "evaluated here): each further language adds I x T x that", "",
              "| intermediate tasks I | targets T | languages L | cells I x T "
              "| predicted wall min |",
              "|---|---|---|---|---|"]
    for g in grids:
        i, t = g[0], g[1]
        langs = g[2] if len(g) > 2 else model["languages"]
        lines.append(f"| {i} | {t} | {langs} | {i * t} | {predict(model, i, t, langs) / 60:.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, help="write the stage timings here")
    ap.add_argument("--noop", action="store_true", help="then time a no-op `dvc repro`")
    ap.add_argument("--noop-only", action="store_true", help="only the no-op timings")
    ap.add_argument("--grids", default="1x1,2x2,3x4,5x4,11x7,3x4x40",
                    help="grid sizes IxT or IxTxL (L evaluation languages; default: as many "
                         "as this run) to predict (default: %(default)s)")
    ap.add_argument("repro_args", nargs="*", help="passed to `dvc repro` (e.g. --force)")
    ns = ap.parse_args()
    out: dict = {}
    if not ns.noop_only:
        stages, total, rss = run_repro(ns.repro_args)
        grids = [tuple(int(x) for x in g.split("x")) for g in ns.grids.split(",")]
        text = report(stages, total, rss, grids)
        print("\n" + text)
        out |= {"stages": stages, "wall_seconds": round(total, 1), "peak_rss_mb": round(rss),
                "grid_model": grid_model(stages), "report": text}
    if ns.noop or ns.noop_only:
        n = len(subprocess.run(["dvc", "stage", "list", "--name-only"], check=True,
                               capture_output=True, text=True).stdout.split())
        noop = {"dvc --version": timed(["dvc", "--version"]),
                "dvc repro, 1 minimal stage": dvc_floor(1),
                f"dvc repro, {n} minimal stages": dvc_floor(n),
                "dvc status": timed(["dvc", "status"]),
                f"dvc repro (no-op, this project: {n} stages)": timed(["dvc", "repro"])}
        for k, v in noop.items():
            print(f"{k}: {v:.2f} s (median of 3)")
        out["noop_seconds"] = {k: round(v, 2) for k, v in noop.items()}
    if ns.json:
        ns.json.parent.mkdir(parents=True, exist_ok=True)
        ns.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
