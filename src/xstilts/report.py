"""`reports/results.md`: the paper-style table, the per-language table and a gain heatmap.

Everything is computed from the evaluate stages' metrics JSON files; nothing is hand-written.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from xstilts.params import BASELINE, Params

EVAL_ROOT = Path("metrics/eval")


def collect(p: Params, root: Path = EVAL_ROOT) -> dict[tuple[str, str], list[dict]]:
    """{(itask, target): [result per seed]} for every configured cell; missing files are errors."""
    cells: dict[tuple[str, str], list[dict]] = {}
    for itask in p.intermediate.tasks:
        for target in targets(p):
            runs = []
            for seed in p.seeds:
                f = root / itask / target / f"seed{seed}.json"
                if not f.is_file():
                    raise FileNotFoundError(f"missing evaluation metrics {f}")
                runs.append(json.loads(f.read_text()))
            cells[(itask, target)] = runs
    return cells


def targets(p: Params) -> list[str]:
    return list(p.target.tasks) + list(p.evaluate.retrieval_tasks)


def _fmt(values: list[float], digits: int) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def summary_table(p: Params, cells) -> dict[str, dict[str, float]]:
    """{itask: {target: mean over seeds of the mean over non-English languages}}."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for (itask, target), runs in cells.items():
        out[itask][target] = float(np.mean([r["avg_non_en"] for r in runs]))
    for itask, row in out.items():
        row["avg"] = float(np.mean([row[t] for t in targets(p)]))
    return dict(out)


def write_report(p: Params, out_dir: Path = Path("reports"), root: Path = EVAL_ROOT) -> dict:
    """Write results.md, gains.csv and gain_heatmap.png; return the summary table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cells = collect(p, root)
    table = summary_table(p, cells)
    d = p.report.metric_digits
    cols = targets(p)
    lines = [
        "# X-STILTs results",
        "",
        f"Base model: `{p.model.name}` ({p.model.source}); seeds: {p.seeds}. "
        "Cells: zero-shot score averaged over the non-English languages "
        "(mean ± sd over seeds when there are several).",
        "",
        "| intermediate task | " + " | ".join(cols) + " | avg |",
        "|---" * (len(cols) + 2) + "|",
    ]
    for itask in p.intermediate.tasks:
        vals = [_fmt([r["avg_non_en"] for r in cells[(itask, t)]], d) for t in cols]
        lines.append(f"| {itask} | " + " | ".join(vals) + f" | {table[itask]['avg']:.{d}f} |")
    metric_of = {t: cells[(p.intermediate.tasks[0], t)][0]["metric"] for t in cols}
    lines += ["", "Metrics: " + ", ".join(f"{t}: {metric_of[t]}" for t in cols) + ".", ""]
    if BASELINE in table:
        lines += ["## Gain over the `none` baseline", "",
                  "| intermediate task | " + " | ".join(cols) + " | avg |",
                  "|---" * (len(cols) + 2) + "|"]
        for itask in p.intermediate.tasks:
            if itask == BASELINE:
                continue
            gains = [table[itask][t] - table[BASELINE][t] for t in cols + ["avg"]]
            lines.append(f"| {itask} | " + " | ".join(f"{g:+.{d}f}" for g in gains) + " |")
        lines.append("")
    lines += ["## Per language", ""]
    for target in cols:
        langs = list(cells[(p.intermediate.tasks[0], target)][0]["languages"])
        lines += [f"### {target} ({metric_of[target]})", "",
                  "| intermediate task | " + " | ".join(langs) + " |",
                  "|---" * (len(langs) + 1) + "|"]
        for itask in p.intermediate.tasks:
            runs = cells[(itask, target)]
            vals = [_fmt([r["languages"][lang][metric_of[target]] for r in runs], d)
                    for lang in langs]
            lines.append(f"| {itask} | " + " | ".join(vals) + " |")
        lines.append("")
    (out_dir / "results.md").write_text("\n".join(lines))
    _write_gains(p, table, out_dir)
    return table


def _write_gains(p: Params, table: dict, out_dir: Path) -> None:
    """gains.csv (DVC plot data) and gain_heatmap.png (rows: itask, columns: targets)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = targets(p) + ["avg"]
    rows = [t for t in p.intermediate.tasks if t != BASELINE]
    base = table.get(BASELINE)
    gains = np.array([[table[r][c] - base[c] if base else np.nan for c in cols] for r in rows])
    with open(out_dir / "gains.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["intermediate", "target", "gain"])
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                w.writerow([r, c, f"{gains[i, j]:.4f}"])
    fig, ax = plt.subplots(figsize=(1.3 * len(cols) + 2, 0.6 * max(len(rows), 1) + 1.5))
    lim = float(np.nanmax(np.abs(gains))) if gains.size and np.isfinite(gains).any() else 1.0
    im = ax.imshow(gains if gains.size else np.zeros((1, len(cols))), cmap="RdBu",
                   vmin=-lim or -1, vmax=lim or 1, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    for i in range(len(rows)):
        for j in range(len(cols)):
            ax.text(j, i, f"{gains[i, j]:+.1f}", ha="center", va="center", fontsize=8)
    ax.set_title("Zero-shot gain over no intermediate training (non-English mean)")
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(out_dir / "gain_heatmap.png", dpi=120)
    plt.close(fig)
