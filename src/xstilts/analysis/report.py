"""`reports/results.md`: the paper-style table, the per-language table and a gain heatmap.

Everything is computed from the evaluation metrics JSON files of the target stages and, for the
significance of gains over `none` (paired bootstrap, `xstilts.core.stats`), their per-example
prediction files; nothing is hand-written.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from xstilts.analysis.aggregate import xtreme_table
from xstilts.core import stats
from xstilts.core.params import BASELINE, Params
from xstilts.core.predictions import PRED_ROOT, aligned_stats, prediction_file, read_predictions
from xstilts.core.records import EvalRecord

EVAL_ROOT = Path("metrics/eval")
MARK = "†"  # gain over `none` significant at report.alpha


def collect(p: Params, root: Path = EVAL_ROOT) -> dict[tuple[str, str], list[EvalRecord]]:
    """{(itask, target): [result per seed]} for every configured cell; missing files are errors."""
    cells: dict[tuple[str, str], list[dict]] = {}
    for itask in p.intermediate.tasks:
        for target in targets(p):
            runs = []
            for seed in p.seeds:
                runs.append(EvalRecord.read(root / itask / target / f"seed{seed}.json"))
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
        out[itask][target] = float(np.mean([r.avg_non_en for r in runs]))
    for row in out.values():
        row["avg"] = float(np.mean([row[t] for t in targets(p)]))
    return dict(out)


def significance(p: Params, cells, pred_root: Path = PRED_ROOT) -> dict:
    """Paired bootstrap of every gain over `none` (see xstilts.core.stats for the design).

    Returns ``{"cells": {itask: {column: Bootstrap}}, "languages": {itask: {target: {lang:
    Bootstrap}}}}`` with columns = targets + ``avg`` (mean gain over targets, resampled jointly);
    empty when `none` is not configured. The observed gains must equal the metrics files'.
    """
    systems = [t for t in p.intermediate.tasks if t != BASELINE]
    if BASELINE not in p.intermediate.tasks or not systems:
        return {}
    r = p.report
    order = [BASELINE, *systems]
    seed_counts = stats.seed_draws(stats.derive_rng(r.bootstrap_seed, "seeds"), len(p.seeds),
                                   r.bootstrap_resamples)
    table = summary_table(p, cells)
    cell_obs, cell_deltas = {}, {}
    per_lang: dict = {s: {} for s in systems}
    for target in targets(p):
        metric = cells[(BASELINE, target)][0].metric
        langs = [lang for lang in cells[(BASELINE, target)][0].languages if lang != "en"]
        obs, deltas = [], []
        for lang in langs:
            records = [[read_predictions(prediction_file(itask, target, seed, lang, pred_root))
                        for seed in p.seeds] for itask in order]
            arr, kind = aligned_stats(records, metric)
            o, d = stats.paired_gains(arr, kind, seed_counts,
                                      stats.derive_rng(r.bootstrap_seed, target, lang))
            obs.append(o)
            deltas.append(d)
            for j, itask in enumerate(systems):
                per_lang[itask].setdefault(target, {})[lang] = stats.summarize(o[j], d[:, j],
                                                                               r.alpha)
        cell_obs[target] = np.mean(obs, axis=0)
        cell_deltas[target] = np.mean(deltas, axis=0)
        for j, itask in enumerate(systems):
            expected = table[itask][target] - table[BASELINE][target]
            if abs(cell_obs[target][j] - expected) > 1e-6:
                raise ValueError(
                    f"{itask} -> {target}: the prediction files give a gain of "
                    f"{cell_obs[target][j]:.6f}, the metrics files {expected:.6f}")
    cols = targets(p)
    cell_obs["avg"] = np.mean([cell_obs[t] for t in cols], axis=0)
    cell_deltas["avg"] = np.mean([cell_deltas[t] for t in cols], axis=0)
    out = {itask: {c: stats.summarize(cell_obs[c][j], cell_deltas[c][:, j], r.alpha)
                   for c in [*cols, "avg"]} for j, itask in enumerate(systems)}
    return {"cells": out, "languages": per_lang}


def write_report(p: Params, out_dir: Path = Path("reports"), root: Path = EVAL_ROOT,
                 pred_root: Path = PRED_ROOT) -> dict:
    """Write results.md, significance.json, gains.csv and gain_heatmap.png; return the summary
    table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cells = collect(p, root)
    table = summary_table(p, cells)
    sig = significance(p, cells, pred_root)
    rp = p.report
    d = rp.metric_digits
    cols = targets(p)

    def mark(itask: str, col: str, lang: str | None = None) -> str:
        if itask == BASELINE or not sig:
            return ""
        res = sig["cells"][itask][col] if lang is None else sig["languages"][itask][col][lang]
        return MARK if res.significant else ""

    level = f"{100 * (1 - rp.alpha):g}%"
    lines = [
        "# X-STILTs results",
        "",
        f"Base model: `{p.model.name}` ({p.model.source}); seeds: {p.seeds}. "
        "Cells: zero-shot score averaged over the non-English languages "
        "(mean ± sd over seeds when there are several).",
        "",
    ]
    if sig:
        lines += [
            f"{MARK}: gain over `{BASELINE}` significant at alpha = {rp.alpha:g} (two-sided paired "
            f"bootstrap over test examples and seeds: {rp.bootstrap_resamples} resamples, RNG "
            f"seed {rp.bootstrap_seed}; no correction for multiple comparisons).",
            "",
        ]
    pieces = {t: label_piece(cells, t) for t in cols}
    heads = [f"{t} [{pieces[t]}]" if pieces[t] not in (None, "first") else t for t in cols]
    lines += [
        "| intermediate task | " + " | ".join(heads) + " | avg |",
        "|---" * (len(cols) + 2) + "|",
    ]
    for itask in p.intermediate.tasks:
        vals = [_fmt([r.avg_non_en for r in cells[(itask, t)]], d) + mark(itask, t)
                for t in cols]
        lines.append(f"| {itask} | " + " | ".join(vals)
                     + f" | {table[itask]['avg']:.{d}f}{mark(itask, 'avg')} |")
    metric_of = {t: cells[(p.intermediate.tasks[0], t)][0].metric for t in cols}
    lines += ["", "Metrics: " + ", ".join(
        f"{t}: {metric_of[t]}" + (f" ({PIECE_TEXT.get(pieces[t], pieces[t])})" if pieces[t] else "")
        for t in cols) + ".", ""]
    lines += _xtreme_section(p, cells, cols, d)
    if BASELINE in table:
        lines += ["## Gain over the `none` baseline", "",
                  "| intermediate task | " + " | ".join(cols) + " | avg |",
                  "|---" * (len(cols) + 2) + "|"]
        for itask in p.intermediate.tasks:
            if itask == BASELINE:
                continue
            gains = [f"{table[itask][t] - table[BASELINE][t]:+.{d}f}{mark(itask, t)}"
                     for t in cols + ["avg"]]
            lines.append(f"| {itask} | " + " | ".join(gains) + " |")
        lines.append("")
    if sig:
        lines += ["## Significance of the gains", "",
                  f"Gain (mean over seeds and non-English languages), its {level} percentile "
                  "interval and the two-sided p-value of a paired bootstrap: each resample draws "
                  "the seeds (pairs system seed s / baseline seed s) and, per language, the test "
                  "examples with replacement, the same for the system and the baseline; the "
                  "metric (tagging: corpus F1) is recomputed on the resample. `avg`: mean over "
                  "targets.", "",
                  f"| intermediate task | target | gain | {level} CI | p | |",
                  "|---|---|---|---|---|---|"]
        for itask, row in sig["cells"].items():
            for col, res in row.items():
                lines.append(f"| {itask} | {col} | {res.gain:+.{d}f} | "
                             f"[{res.ci_low:+.{d}f}, {res.ci_high:+.{d}f}] | {_fmt_p(res)} | "
                             f"{MARK if res.significant else ''} |")
        lines.append("")
    lines += ["## Per language", ""]
    for target in cols:
        langs = list(cells[(p.intermediate.tasks[0], target)][0].languages)
        piece = f"; label_piece: {pieces[target]}" if pieces[target] else ""
        lines += [f"### {target} ({metric_of[target]}{piece})", "",
                  "| intermediate task | " + " | ".join(langs) + " |",
                  "|---" * (len(langs) + 1) + "|"]
        for itask in p.intermediate.tasks:
            runs = cells[(itask, target)]
            vals = [_fmt([r.languages[lang][metric_of[target]] for r in runs], d)
                    + (mark(itask, target, lang) if lang != "en" else "") for lang in langs]
            lines.append(f"| {itask} | " + " | ".join(vals) + " |")
        lines.append("")
    (out_dir / "results.md").write_text("\n".join(lines))
    _write_significance(sig, out_dir / "significance.json")
    _write_gains(p, table, out_dir)
    return table


# how a tagging column's tags were aligned to sub-words (TrainHParams.label_piece)
PIECE_TEXT = {"first": "tag on each word's first sub-word, as XTREME",
              "first_content": "tag on each word's first sub-word that is not a bare "
                               "boundary marker: not XTREME's alignment"}


def label_piece(cells, target: str) -> str | None:
    """The tagging alignment of `target`'s cells (None: not tagging; several: joined by /)."""
    found = sorted({r.label_piece for (_, t), runs in cells.items() if t == target
                    for r in runs if r.label_piece is not None})
    return "/".join(found) or None


def _xtreme_section(p: Params, cells, cols: list[str], d: int) -> list[str]:
    """XTREME aggregation: per-task score over all languages (as XTREME) and over the
    non-English ones (zero-shot), and the benchmark average over tasks, per intermediate task."""
    agg = xtreme_table(cells, list(p.intermediate.tasks), cols)

    def fmt(v: float | None) -> str:
        return "–" if v is None else f"{v:.{d}f}"

    lines = ["## XTREME aggregation", "",
             "XTREME's definitions (`evaluate.py`): a task's score is its metric averaged over "
             "languages (span QA: (EM + F1) / 2); the benchmark score is the mean over tasks. "
             "Each cell: with English / without English (mean over seeds).", "",
             "| intermediate task | " + " | ".join(cols) + " | benchmark |",
             "|---" * (len(cols) + 2) + "|"]
    for itask, row in agg.items():
        vals = [f"{fmt(row[c]['with_en'])} / {fmt(row[c]['without_en'])}"
                for c in [*cols, "benchmark"]]
        lines.append(f"| {itask} | " + " | ".join(vals) + " |")
    return [*lines, ""]


def _fmt_p(res: stats.Bootstrap) -> str:
    floor = 2 / (res.n_resamples + 1)  # the smallest p-value the resamples can give
    return f"≤ {floor:.2g}" if res.p <= floor else f"{res.p:.3g}"


def _write_significance(sig: dict, path: Path) -> None:
    """reports/significance.json: every comparison's gain, interval, p (empty without `none`)."""
    out = {}
    if sig:
        out = {"cells": {i: {c: b.as_dict() for c, b in row.items()}
                         for i, row in sig["cells"].items()},
               "languages": {i: {t: {lang: b.as_dict() for lang, b in by_lang.items()}
                                 for t, by_lang in row.items()}
                             for i, row in sig["languages"].items()}}
    path.write_text(json.dumps(out, indent=1))


def log_significance(p: Params, tracker, path: Path = Path("reports/significance.json"),
                     parent: str | None = None) -> list[str]:
    """One MLflow run per (intermediate task, target or `avg`) cell, tagged itask/target, with
    gain, ci_low, ci_high, p, significant and the per-language values (`<name>/<lang>`)."""
    sig = json.loads(Path(path).read_text())
    runs = []
    r = p.report
    for itask, row in sig.get("cells", {}).items():
        for col, res in row.items():
            run = tracker.start(f"{itask} -> {col} vs {BASELINE}",
                                {"itask": itask, "target": col, "phase": "significance",
                                 "baseline": BASELINE, "dvc_stage": "report"}, parent=parent)
            tracker.log_params(run, {"alpha": r.alpha, "bootstrap_resamples":
                                     r.bootstrap_resamples, "bootstrap_seed": r.bootstrap_seed,
                                     "seeds": p.seeds})
            values = {k: float(res[k]) for k in ("gain", "ci_low", "ci_high", "p", "significant")}
            for lang, lres in sig["languages"].get(itask, {}).get(col, {}).items():
                values |= {f"{k}/{lang}": float(lres[k]) for k in ("gain", "ci_low", "ci_high",
                                                                   "p", "significant")}
            tracker.log_metrics(run, values)
            tracker.finish(run)
            runs.append(run)
    return runs


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
