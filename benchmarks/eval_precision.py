"""Evaluation precision on a finished workspace: every target checkpoint re-evaluated on the test
split of every language with `evaluate.quantize: none` (bf16 weights where runtime.bf16 is on, as
the target stages evaluate by default) and `int8` (dynamic int8 Linear layers), through the
target stage's own `xstilts.core.cell.evaluate_checkpoint`. Prints, per checkpoint, the main
metric averaged over languages under each precision, the largest per-language change and the
evaluation seconds; then the totals. Predictions go to a temporary folder: the workspace's
metrics and predictions are not touched.

Run it after `dvc repro`, from the project root:
  HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/eval_precision.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path


def checkpoints(root: Path = Path("models")) -> list[Path]:
    """Every target checkpoint under `root` (main grid and studies): .../target/.../seed<s>."""
    return sorted(h.parent for h in root.glob("**/target/**/seed*/head.json"))


def evaluate(p, ckpt: Path, quantize: str, out: Path) -> tuple[dict, float]:
    from xstilts.core.cell import evaluate_checkpoint
    from xstilts.tasks import get_task

    q = p.model_copy(update={"evaluate": p.evaluate.model_copy(update={"quantize": quantize})})
    task = get_task(ckpt.parent.name)
    t0 = time.perf_counter()
    scores = evaluate_checkpoint(q, ckpt, task, "bench", int(ckpt.name[4:]), out,
                                 f"{quantize} {ckpt}")
    return {lang: s[task.metric] for lang, s in scores.items()}, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, help="also write the rows and totals here")
    ap.add_argument("--limit", type=int, help="only the first N checkpoints")
    ns = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from xstilts.core.params import load_params

    p = load_params()
    ckpts = checkpoints()[: ns.limit]
    if not ckpts:
        raise SystemExit("no target checkpoints under models/: run `dvc repro` first")
    rows, diffs, secs = [], [], {"none": 0.0, "int8": 0.0}
    print("| checkpoint | langs | none | int8 | int8 - none | max abs per lang | s none | s int8 |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for ckpt in ckpts:
            res = {q: evaluate(p, ckpt, q, Path(tmp) / q) for q in ("none", "int8")}
            (a, ta), (b, tb) = res["none"], res["int8"]
            d = [b[lang] - a[lang] for lang in a]
            diffs += d
            secs["none"] += ta
            secs["int8"] += tb
            row = {"checkpoint": str(ckpt), "none": a, "int8": b, "seconds_none": ta,
                   "seconds_int8": tb}
            rows.append(row)
            print(f"| {ckpt} | {len(a)} | {statistics.mean(a.values()):.2f} | "
                  f"{statistics.mean(b.values()):.2f} | {statistics.mean(d):+.2f} | "
                  f"{max(abs(x) for x in d):.2f} | {ta:.1f} | {tb:.1f} |", flush=True)
    total = {"checkpoints": len(rows), "language_scores": len(diffs),
             "mean_change": statistics.mean(diffs), "max_abs_change": max(map(abs, diffs)),
             "mean_abs_change": statistics.mean(map(abs, diffs)),
             "seconds_none": secs["none"], "seconds_int8": secs["int8"]}
    print(f"\n{total['checkpoints']} checkpoints, {total['language_scores']} language scores: "
          f"int8 - none mean {total['mean_change']:+.2f}, mean |change| "
          f"{total['mean_abs_change']:.2f}, max |change| {total['max_abs_change']:.2f} points; "
          f"evaluation {secs['none']:.0f} s (none) vs {secs['int8']:.0f} s (int8): "
          f"{secs['none'] / secs['int8']:.2f}x")
    if ns.json:
        ns.json.write_text(json.dumps({"rows": rows, "total": total}, indent=1))


if __name__ == "__main__":
    main()
