"""Study 4: task complexity and the transfer gap.

Per intermediate task I and target T (scores: the target's main metric, mean over seeds):

* transfer gap  = score on English test - mean score over the non-English languages;
* gain          = mean non-English score of I - that of `none` (the paper table's gain).

Complexity measures of I, computed from its prepared English train split and the English dev
metrics: label entropy (bits; classification and multiple choice: of the gold label index,
tagging: of the tags over tokens), number of classes (classification: labels, multiple choice:
mean answer choices, tagging: distinct tags), mean input length (tokens of `models/base`'s
tokenizer, or whitespace words; all text fields of an example joined), train size, and the
baseline's English dev difficulty 1 - best English dev score / 100 of I's own intermediate
training (`metrics/dev/intermediate/<I>`). Each measure is correlated with the gap and the gain
over the (I, T) points.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np

from xstilts.analysis.studies import common
from xstilts.analysis.studies.common import Section, StudyResult
from xstilts.core.params import BASELINE, Params

DATA = Path("data/prepared")
BASE = Path("models/base")
MEASURES = ("label_entropy", "n_classes", "mean_length", "train_size", "dev_difficulty")
OUTCOMES = ("gap", "gain")


def entropy_bits(values) -> float:
    """Shannon entropy (bits) of the empirical distribution of `values`."""
    counts = np.array(list(Counter(values).values()), dtype=float)
    if counts.sum() == 0:
        return float("nan")
    q = counts / counts.sum()
    return float(-(q * np.log2(q)).sum())


def input_text(task_type: str, row: dict) -> str:
    """Every text field of one example joined by spaces (what the length measures)."""
    from xstilts.tasks import TaskType

    t = TaskType(task_type)
    if t == TaskType.CLASSIFICATION:
        return row["text"]
    if t == TaskType.PAIR_CLASSIFICATION:
        return f"{row['text_a']} {row['text_b']}"
    if t == TaskType.MULTIPLE_CHOICE:
        return " ".join([row["context"], *row["choices"]])
    if t == TaskType.SPAN_QA:
        return f"{row['question']} {row['context']}"
    if t == TaskType.TAGGING:
        return " ".join(row["tokens"])
    return f"{row['source']} {row['target']}"


def task_measures(task_type: str, rows: list[dict], length) -> dict[str, float]:
    """label_entropy, n_classes, mean_length, train_size of one task's English train rows;
    `length(text) -> int` counts tokens or words."""
    from xstilts.tasks import TaskType

    t = TaskType(task_type)
    if t in (TaskType.CLASSIFICATION, TaskType.PAIR_CLASSIFICATION):
        ent, k = entropy_bits(r["label"] for r in rows), len({r["label"] for r in rows})
    elif t == TaskType.MULTIPLE_CHOICE:
        ent = entropy_bits(r["label"] for r in rows)
        k = float(np.mean([len(r["choices"]) for r in rows]))
    elif t == TaskType.TAGGING:
        tags = [tag for r in rows for tag in r["tags"]]
        ent, k = entropy_bits(tags), len(set(tags))
    else:  # span QA, retrieval: no label set
        ent, k = float("nan"), float("nan")
    lengths = [length(input_text(task_type, r)) for r in rows]
    return {"label_entropy": ent, "n_classes": float(k),
            "mean_length": float(np.mean(lengths)) if lengths else float("nan"),
            "train_size": float(len(rows))}


def _length_fn(unit: str, base: Path):
    if unit == "words":
        return lambda text: len(text.split())
    from transformers import AutoTokenizer

    enc = base / "encoder" if (base / "encoder").is_dir() else base
    if not (enc / "tokenizer_config.json").is_file() and not (enc / "tokenizer.json").is_file():
        raise FileNotFoundError(f"no tokenizer in {base} (length_unit: tokens needs the base "
                                "model: run prepare_model, or set length_unit: words)")
    tok = AutoTokenizer.from_pretrained(str(enc))
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


def measures(p: Params, itasks: list[str], data_root: Path = DATA, base: Path = BASE,
             dev_root: Path = common.DEV_ROOT) -> dict[str, dict[str, float]]:
    """{itask: {measure: value}} from the prepared English train split and English dev."""
    from xstilts.core.data import load_split
    from xstilts.tasks import get_task

    length = _length_fn(p.studies.complexity.length_unit, base)
    mixtures = getattr(p.intermediate, "mixtures", {}) or {}
    out = {}
    for itask in itasks:
        if itask in mixtures:  # a multi-task mixture: sizes and lengths pooled over members;
            parts = [(get_task(t), list(load_split(data_root, t, "en", "train", "train")))
                     for t in mixtures[itask].tasks]  # label sets differ: no entropy/classes
            each = [task_measures(str(t.type), rows, length) for t, rows in parts]
            n = sum(e["train_size"] for e in each)
            m = {"label_entropy": float("nan"), "n_classes": float("nan"), "train_size": n,
                 "mean_length": sum(e["mean_length"] * e["train_size"] for e in each) / n}
        else:
            task = get_task(itask)
            rows = list(load_split(data_root, itask, "en", "train", "train"))
            m = task_measures(str(task.type), rows, length)
        dev = common.dev_score(f"intermediate/{itask}", p.seeds, dev_root)
        m["dev_difficulty"] = float("nan") if dev is None else 1.0 - dev / 100.0
        out[itask] = m
    return out


def gaps_and_gains(cells: dict[tuple[str, str, str], float]) -> dict[tuple[str, str], dict]:
    """{(itask, target): {"gap", "gain", "en", "non_en"}}; gap NaN without an English score,
    gain NaN without the `none` cell."""
    out = {}
    for itask, target in sorted({(i, t) for (i, t, _) in cells}):
        langs = common.languages(cells, target)
        non_en = [cells[(itask, target, lang)] for lang in langs
                  if lang != "en" and (itask, target, lang) in cells]
        mean_non_en = float(np.mean(non_en)) if non_en else float("nan")
        en = cells.get((itask, target, "en"), float("nan"))
        out[(itask, target)] = {"en": en, "non_en": mean_non_en, "gap": en - mean_non_en}
    for (_, target), v in out.items():
        base = out.get((BASELINE, target))
        v["gain"] = v["non_en"] - base["non_en"] if base else float("nan")
    return out


def analyse(p: Params, out_dir: Path, eval_root: Path = common.EVAL_ROOT,
            dev_root: Path = common.DEV_ROOT, data_root: Path = DATA,
            base: Path = BASE) -> StudyResult:
    """Write complexity.{md,json,csv,png} to `out_dir`; return the result."""
    st = p.studies.stats
    targets = list(p.target.tasks) + list(p.evaluate.retrieval_tasks)
    cells = common.cell_scores(common.load_scores(eval_root, p.intermediate.tasks, targets,
                                                  p.seeds))
    systems = [i for i in p.intermediate.tasks if i != BASELINE]
    meas = measures(p, systems, data_root, base, dev_root)
    gg = gaps_and_gains(cells)
    corr: dict[str, dict[str, dict]] = {}
    points = [(i, t) for i in systems for t in targets]
    centred: dict[str, dict[str, common.Correlation]] = {}
    for m in MEASURES:
        for o in OUTCOMES:
            x = [meas[i][m] for i, t in points]
            y = [gg[(i, t)][o] for i, t in points]
            corr.setdefault(m, {})[o] = common.correlate(x, y, st, f"complexity/{m}/{o}")
            yc = _centre(points, y)  # within target: removes each target's scale and level
            centred.setdefault(m, {})[o] = common.correlate(x, yc, st, f"complexity/c/{m}/{o}")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [_write_csv(out_dir / "complexity.csv", points, meas, gg),
             _plot(out_dir / "complexity.png", points, meas, gg)]
    metrics = {"measures": meas,
               "cells": {f"{i}/{t}": {k: gg[(i, t)][k] for k in ("gap", "gain", "en",
                                                                  "non_en")}
                         for i in p.intermediate.tasks for t in targets},
               "correlation": {m: {o: c.as_dict() for o, c in row.items()}
                               for m, row in corr.items()},
               "correlation_within_target": {m: {o: c.as_dict() for o, c in row.items()}
                                             for m, row in centred.items()}}
    section = _section(p, systems, targets, meas, gg, corr, centred, cells)
    result = StudyResult("complexity", section, metrics, files)
    common.write_section(result, out_dir)
    return result


def _centre(points: list[tuple[str, str]], y: list[float]) -> list[float]:
    """y minus the mean of its target's finite values (NaN stays NaN)."""
    by_t: dict[str, list[float]] = {}
    for (_, t), v in zip(points, y, strict=True):
        if np.isfinite(v):
            by_t.setdefault(t, []).append(v)
    return [v - float(np.mean(by_t[t])) if np.isfinite(v) else v
            for (_, t), v in zip(points, y, strict=True)]


def _section(p, systems, targets, meas, gg, corr, centred, cells) -> Section:
    st = p.studies.stats
    unit = "base-model tokens" if p.studies.complexity.length_unit == "tokens" else "words"
    t_meas = common.markdown_table(
        ["intermediate task", "label entropy (bits)", "classes / choices",
         f"mean input length ({unit})", "train size", "baseline dev difficulty"],
        [[i, common.fmt(meas[i]["label_entropy"]), common.fmt(meas[i]["n_classes"], 1),
          common.fmt(meas[i]["mean_length"], 1), common.fmt(meas[i]["train_size"], 0),
          common.fmt(meas[i]["dev_difficulty"], 3)] for i in systems])
    t_gap = common.markdown_table(
        ["intermediate task", *[f"{t} gap" for t in targets], *[f"{t} gain" for t in targets]],
        [[i, *[common.fmt(gg[(i, t)]["gap"], 1) for t in targets],
          *[("–" if i == BASELINE else common.fmt(gg[(i, t)]["gain"], 1, sign=True))
            for t in targets]] for i in p.intermediate.tasks])
    t_corr = common.markdown_table(
        ["measure", "outcome", "n", "Pearson r [CI]", "Spearman ρ [CI]",
         "within target: Pearson r [CI]", "within target: Spearman ρ [CI]"],
        [[m, o, *common.correlation_row(corr[m][o]),
          *common.correlation_row(centred[m][o])[1:]] for m in MEASURES for o in OUTCOMES])
    stats_lines = []
    for o in OUTCOMES:
        finite = [(m, corr[m][o]) for m in MEASURES if np.isfinite(corr[m][o].pearson)]
        if finite:
            m, c = max(finite, key=lambda mc: abs(mc[1].pearson))
            stats_lines.append(
                f"Strongest linear association with the {o}: {m}, Pearson r = "
                f"{common.fmt(c.pearson)} {common.fmt_ci(c.pearson_ci)} (p = "
                f"{common.fmt(c.pearson_p, 3)}), Spearman ρ = {common.fmt(c.spearman)} "
                f"{common.fmt_ci(c.spearman_ci)}, n = {c.n} points.")
        else:
            stats_lines.append(f"No measure varies enough to correlate with the {o}.")
    no_gap = [t for t in targets if not np.isfinite(gg[(systems[0], t)]["gap"])] if systems \
        else []
    if no_gap:
        stats_lines.append(f"No English test score (gap undefined): {', '.join(no_gap)}.")
    distinct = len(systems)
    caveat = common.scale_caveat(
        p, cells, f"The complexity measures take only {distinct} distinct value(s) each (one per "
        f"intermediate task), so a correlation over the {distinct} x {len(targets)} "
        "(task, target) points compares at most that many groups; intervals resample points, "
        "not tasks, and are optimistic. With fewer than 3 points or a constant measure the "
        "statistics are n/a.")
    return Section(
        "Study 4: task complexity and the transfer gap",
        "Do properties of the English intermediate task predict how much of its benefit "
        "transfers to other languages (the English minus non-English gap) and the zero-shot "
        "gain over no intermediate training?",
        "Transfer gap = English test score − mean non-English test score of each (intermediate "
        "task, target) cell; gain = mean non-English score − that of `none`; main metric of "
        "each target, mean over seeds. Complexity measures are computed from the prepared "
        "English train split of each intermediate task (label entropy, number of classes or "
        f"answer choices, mean input length in {unit}, train size) and from its English dev "
        "score after intermediate training (difficulty = 1 − score/100). Pearson and Spearman "
        f"correlations over the (task, target) points with {common.bootstrap_text(st)}; "
        "*within target*: the same after subtracting each target's mean over tasks (targets "
        "differ in metric and level).",
        [t_meas, t_gap, t_corr], "complexity.png", stats_lines, caveat)


def _write_csv(path: Path, points, meas, gg) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["itask", "target", *MEASURES, *OUTCOMES])
        for i, t in points:
            w.writerow([i, t, *[f"{meas[i][m]:.6g}" for m in MEASURES],
                        *[f"{gg[(i, t)][o]:.6g}" for o in OUTCOMES]])
    return path


def _plot(path: Path, points, meas, gg) -> Path:
    plt = common.plt()
    targets = sorted({t for _, t in points})
    fig, axes = plt.subplots(len(OUTCOMES), len(MEASURES),
                             figsize=(3.2 * len(MEASURES), 3.0 * len(OUTCOMES)), squeeze=False)
    for r, o in enumerate(OUTCOMES):
        for c, m in enumerate(MEASURES):
            ax = axes[r][c]
            for t in targets:
                pts = [(meas[i][m], gg[(i, tt)][o]) for i, tt in points if tt == t]
                ax.scatter([a for a, _ in pts], [b for _, b in pts], label=t, s=25)
            ax.set_xlabel(m)
            ax.set_ylabel(o)
    axes[0][0].legend(fontsize=6)
    fig.suptitle("Intermediate-task complexity vs transfer gap and gain")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
