"""Study 2: multilingual intermediate data for QA.

Question. Does intermediate training on QA data in languages other than English (native
multilingual training sets such as TyDiQA-GoldP's, or machine-translated ones such as XTREME's
translate-train SQuAD) help the zero-shot QA targets more than English-only intermediate
training -- and does it help the languages it saw more than the ones it did not see?

Variants (`studies.multilingual.variants`). A variant is `{task, languages, cap}`: the train
splits of intermediate task `task` in `languages`, at most `cap` examples per language (the
first `cap` of one permutation seeded by `subset_seed` and the language; `null` = all), pooled
into one training set for one shared head: batches are drawn from the pool, so each language's
share is proportional to its (capped) size. Selection is on the English dev split only; the
target phase (English train, English dev) and the hyperparameters are the main grid's. The
baseline variant (`baseline`, English-only: `languages: [en]`) is what every other variant is
compared with. Non-English train splits are read through `load_split(...,
"multilingual_train")`, the only purpose the zero-shot guard lets read a non-English split
outside evaluation (train splits of non-target tasks only).

Stages (dvc.yaml): `multilingual_intermediate@<variant>-<seed>` -> `models/multilingual/
intermediate/<variant>/seed<s>`; `multilingual_target@<variant>-<target>-<seed>` ->
`models/multilingual/target/<variant>/<target>/seed<s>` and then (its zero-shot evaluation)
`metrics/multilingual/eval/<variant>/<target>/seed<s>.json` (the format of
`metrics/eval`: EM and F1 per language) and per-example predictions `metrics/multilingual/
predictions/<variant>/<target>/seed<s>/<lang>.json` (`xstilts.core.predictions`). The cells are
trained and evaluated by the main grid's code (`xstilts.core.cell`, family `multilingual`; the
pooled train set is `xstilts.core.families.multilingual_train_set`); this module is the analysis.

Analysis: per QA target, language and metric (EM, F1), each variant's score minus the
baseline's (mean over seeds) with a paired bootstrap over test examples and seeds
(`xstilts.core.stats`; `studies.stats` gives resamples, seed and alpha), and the same averaged over
the non-English languages the variant saw in intermediate training ("seen") and those it did
not ("unseen").
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from xstilts.analysis.studies import common
from xstilts.analysis.studies.common import Section, StudyResult
from xstilts.core.params import Params
from xstilts.core.paths import Layout, study_layout
from xstilts.core.records import EvalRecord

METRICS = study_layout("multilingual").metrics
QA_METRICS = ("em", "f1")
GROUPS = ("seen", "unseen", "all")  # non-English languages seen / not seen / all


def _layout(root: Path) -> Layout:
    """The study's metrics layout under `root` (tests read fabricated files elsewhere)."""
    return Layout(metrics=root, predictions=root / "predictions")


# ---------------------------------------------------------------- analysis


def load_scores(p: Params, root: Path = METRICS) -> dict[tuple[str, str, str, str], float]:
    """{(variant, target, lang, metric): score, mean over seeds} from the evaluate files of
    every configured variant, target and seed (a missing file is an error)."""
    m = p.studies.multilingual
    acc: dict[tuple[str, str, str, str], list[float]] = {}
    for variant in m.variants:
        for target in m.targets:
            for seed in p.seeds:
                path = _layout(root).eval_file(variant, target, seed)
                rec = EvalRecord.read(path)
                for lang, s in rec.languages.items():
                    for metric in QA_METRICS:
                        if metric not in s:
                            raise KeyError(f"{path}: no {metric!r} for {lang!r} (a span-QA "
                                           "target has EM and F1)")
                        acc.setdefault((variant, target, lang, metric), []).append(
                            float(s[metric]))
    return {k: float(np.mean(v)) for k, v in acc.items()}


def seen_languages(p: Params, variant: str) -> set[str]:
    """Non-English languages in `variant`'s intermediate training data."""
    return {lang for lang in p.studies.multilingual.variants[variant].languages if lang != "en"}


def compare(p: Params, root: Path = METRICS) -> tuple[dict, dict]:
    """Paired bootstrap of every variant against the baseline.

    Returns (per_language, groups): per_language[(variant, target, lang, metric)] and
    groups[(variant, target, group, metric)] are dicts with the Bootstrap fields (`gain`,
    `ci_low`, `ci_high`, `p`, ...) plus, per language, `seen`; a group's gain (and each
    resample's) is the mean over its non-English languages (an empty group is absent).
    """
    from xstilts.core import stats
    from xstilts.core.predictions import aligned_stats, read_predictions

    m, st = p.studies.multilingual, p.studies.stats
    others = [v for v in m.variants if v != m.baseline]
    systems = [m.baseline, *others]
    seeds = list(p.seeds)
    seed_counts = stats.seed_draws(stats.derive_rng(st.bootstrap_seed, "multilingual", "seeds"),
                                   len(seeds), st.bootstrap_resamples)
    per_lang: dict[tuple[str, str, str, str], dict] = {}
    deltas: dict[tuple[str, str, str, str], np.ndarray] = {}
    for target in m.targets:
        layout = _layout(root)
        ref = layout.prediction_dir(m.baseline, target, seeds[0])
        langs = sorted(f.stem for f in ref.glob("*.json")) if ref.is_dir() else []
        if not langs:
            raise FileNotFoundError(f"no per-example predictions under {ref} (run "
                                    f"multilingual_target for {m.baseline!r})")
        for lang in langs:
            records = [[read_predictions(layout.prediction_dir(v, target, s) / f"{lang}.json")
                        for s in seeds] for v in systems]
            for metric in QA_METRICS:
                arr, kind = aligned_stats(records, metric)
                rng = stats.derive_rng(st.bootstrap_seed, "multilingual", target, lang)
                observed, boot = stats.paired_gains(arr, kind, seed_counts, rng)
                for j, variant in enumerate(others):
                    key = (variant, target, lang, metric)
                    deltas[key] = boot[:, j]
                    per_lang[key] = stats.summarize(float(observed[j]), boot[:, j],
                                                    st.alpha).as_dict() | {
                        "seen": lang == "en" or lang in seen_languages(p, variant)}
    groups: dict[tuple[str, str, str, str], dict] = {}
    for variant in others:
        seen = seen_languages(p, variant)
        for target in m.targets:
            langs = sorted({k[2] for k in per_lang if k[:2] == (variant, target)} - {"en"})
            members = {"seen": [x for x in langs if x in seen],
                       "unseen": [x for x in langs if x not in seen], "all": langs}
            for group, glangs in members.items():
                if not glangs:
                    continue
                for metric in QA_METRICS:
                    obs = float(np.mean([per_lang[(variant, target, x, metric)]["gain"]
                                         for x in glangs]))
                    boot = np.mean([deltas[(variant, target, x, metric)] for x in glangs], 0)
                    groups[(variant, target, group, metric)] = stats.summarize(
                        obs, boot, st.alpha).as_dict() | {"languages": glangs}
    return per_lang, groups


def analyse(p: Params, out_dir: Path, root: Path = METRICS) -> StudyResult:
    """Write multilingual.{md,json,csv,png} to `out_dir`; return the result."""
    m = p.studies.multilingual
    if not m.variants or not m.targets:
        raise ValueError("studies.multilingual: no variants/targets to analyse")
    scores = load_scores(p, root)
    per_lang, groups = compare(p, root)
    sizes = _train_sizes(p, root)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [_write_csv(out_dir / "multilingual.csv", p, scores, per_lang),
             _plot(out_dir / "multilingual.png", p, per_lang)]
    metrics = {
        "scores": {f"{v}/{t}/{lang}/{metric}": s for (v, t, lang, metric), s in scores.items()},
        "gains": {f"{v}/{t}/{lang}/{metric}": r for (v, t, lang, metric), r in per_lang.items()},
        "groups": {f"{v}/{t}/{g}/{metric}": r for (v, t, g, metric), r in groups.items()},
        "train_examples": sizes,
    }
    result = StudyResult("multilingual", _section(p, scores, per_lang, groups, sizes), metrics,
                         files)
    common.write_section(result, out_dir)
    return result


def _train_sizes(p: Params, root: Path) -> dict[str, dict[str, int]]:
    """{variant: {lang: intermediate train examples}} from the first seed's dev file (if any)."""
    out = {}
    for variant, v in p.studies.multilingual.variants.items():
        f = _layout(root).dev_file("intermediate", variant, p.seeds[0])
        if f.is_file():
            counts = json.loads(f.read_text()).get("train_examples_per_language", {})
            out[variant] = {lang: counts[lang] for lang in v.languages if lang in counts}
    return out


def _cell(r: dict) -> str:
    star = "†" if r["significant"] else ""
    return f"{common.fmt(r['gain'], 1, True)}{star} {common.fmt_ci((r['ci_low'], r['ci_high']), 1)}"


def _section(p: Params, scores, per_lang, groups, sizes) -> Section:
    m, st = p.studies.multilingual, p.studies.stats
    others = [v for v in m.variants if v != m.baseline]
    tables = []
    for target in m.targets:
        for variant in others:
            seen = seen_languages(p, variant)
            langs = sorted({k[2] for k in per_lang if k[:2] == (variant, target)},
                           key=lambda x: (x != "en", x not in seen, x))
            rows = []
            for lang in langs:
                mark = "en" if lang == "en" else ("seen" if lang in seen else "unseen")
                row = [lang, mark]
                for metric in QA_METRICS:
                    row += [common.fmt(scores.get((m.baseline, target, lang, metric)), 1),
                            common.fmt(scores.get((variant, target, lang, metric)), 1),
                            _cell(per_lang[(variant, target, lang, metric)])]
                row.append(common.fmt(per_lang[(variant, target, lang, "f1")]["p"], 3))
                rows.append(row)
            for group in GROUPS:
                if (variant, target, group, "f1") not in groups:
                    continue
                row = [f"mean {group} non-en",
                       ", ".join(groups[(variant, target, group, "f1")]["languages"])]
                for metric in QA_METRICS:
                    g = groups[(variant, target, group, metric)]
                    b = np.mean([scores[(m.baseline, target, x, metric)] for x in g["languages"]])
                    s = np.mean([scores[(variant, target, x, metric)] for x in g["languages"]])
                    row += [common.fmt(float(b), 1), common.fmt(float(s), 1), _cell(g)]
                row.append(common.fmt(groups[(variant, target, group, "f1")]["p"], 3))
                rows.append(row)
            v = m.variants[variant]
            tables.append(
                f"**{target}: {variant}** ({v.task} in {', '.join(v.languages)}"
                f"{f', cap {v.cap}/language' if v.cap else ''}) vs **{m.baseline}** "
                f"({m.variants[m.baseline].task} in en)\n\n" + common.markdown_table(
                    ["language", "intermediate data", f"EM {m.baseline}", f"EM {variant}",
                     "ΔEM [CI]", f"F1 {m.baseline}", f"F1 {variant}", "ΔF1 [CI]", "p (ΔF1)"],
                    rows))
    lines = []
    for target in m.targets:
        for variant in others:
            for group in ("seen", "unseen"):
                key = (variant, target, group, "f1")
                if key not in groups:
                    continue
                g, e = groups[key], groups[(variant, target, group, "em")]
                lines.append(f"{target}, {variant} vs {m.baseline}, {group} languages "
                             f"({', '.join(g['languages'])}): ΔF1 {common.fmt(g['gain'], 2, True)}"
                             f" {common.fmt_ci((g['ci_low'], g['ci_high']))}, p = "
                             f"{common.fmt(g['p'], 4)}; ΔEM {common.fmt(e['gain'], 2, True)} "
                             f"{common.fmt_ci((e['ci_low'], e['ci_high']))}, p = "
                             f"{common.fmt(e['p'], 4)}.")
    size_text = "; ".join(f"{v}: " + ", ".join(f"{lang} {n}" for lang, n in c.items())
                          for v, c in sizes.items())
    method = (
        f"Each variant of `studies.multilingual.variants` trains the base model on an "
        f"intermediate task's train splits in its languages, pooled for one shared head "
        f"(at most `cap` examples per language, a seeded subset); model selection on the English "
        f"dev split only. Then English target training and zero-shot evaluation as in the main "
        f"grid ({len(p.seeds)} seed(s), target seed s from intermediate seed s). The baseline "
        f"`{m.baseline}` is English-only. Δ = variant − baseline (points, mean over seeds) per "
        f"language; 'seen' = non-English languages in the variant's intermediate data. Paired "
        f"bootstrap over test examples and seeds (`xstilts.core.stats`, {st.bootstrap_resamples} "
        f"resamples, seed {st.bootstrap_seed}; group rows average each resample over their "
        f"languages); {100 * (1 - st.alpha):g}% percentile intervals, † p < {st.alpha:g}, no "
        f"multiple-comparison correction."
        + (f" Intermediate train examples per language: {size_text}." if size_text else ""))
    variants_text = ", ".join(f"{v} ({m.variants[v].task}: {len(m.variants[v].languages)} "
                              "language(s))" for v in m.variants)
    caveat = (
        f"{len(m.variants)} variant(s) ({variants_text}), {len(m.targets)} QA target(s), "
        f"{len(p.seeds)} seed(s), base model `{p.model.name}` ({p.model.source}). Language "
        f"exposure: a 'seen' language had intermediate training text in that language, so a gain "
        f"there mixes task transfer with exposure to the language itself (its script, its "
        f"vocabulary, for the embedded `cldr_qa` even the CLDR names the targets use), and a "
        f"variant with more languages also has more examples unless `cap` equalises them; "
        f"'unseen' languages isolate the cross-lingual part. Only English dev selects, so the "
        f"variants are not tuned for the languages they saw.")
    embedded = [t for t in m.targets if t in p.tasks and p.tasks[t].source == "embedded"]
    if embedded:
        caveat += (" The embedded targets are the CLDR mini-benchmark (templated, 150 test "
                   "examples per language): the numbers exercise the analysis, they are not "
                   "evidence.")
    return Section("Study 2: multilingual intermediate data for QA",
                   "Does intermediate training on QA data in several languages (native or "
                   "translated) help zero-shot QA more than English-only intermediate training, "
                   "per language, by EM and F1 -- and more on the languages it saw than on the "
                   "others?", method, tables, "multilingual.png", lines, caveat)


def _write_csv(path: Path, p: Params, scores, per_lang) -> Path:
    m = p.studies.multilingual
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["target", "variant", "lang", "seen", "metric", "baseline", "score", "delta",
                    "ci_low", "ci_high", "p"])
        for (v, t, lang, metric), r in sorted(per_lang.items()):
            w.writerow([t, v, lang, int(r["seen"]), metric,
                        f"{scores[(m.baseline, t, lang, metric)]:.6g}",
                        f"{scores[(v, t, lang, metric)]:.6g}", f"{r['gain']:.6g}",
                        f"{r['ci_low']:.6g}", f"{r['ci_high']:.6g}", f"{r['p']:.6g}"])
    return path


def _plot(path: Path, p: Params, per_lang) -> Path:
    """Per target (rows) and metric (columns): Δ per language, one bar per variant with its
    interval; unseen languages' bars hatched."""
    plt = common.plt()
    m = p.studies.multilingual
    others = [v for v in m.variants if v != m.baseline]
    rows = max(1, len(m.targets))
    fig, axes = plt.subplots(rows, 2, figsize=(9, 2.8 * rows), squeeze=False)
    width = 0.8 / max(1, len(others))
    for r, target in enumerate(m.targets):
        langs = sorted({k[2] for k in per_lang if k[1] == target})
        for c, metric in enumerate(QA_METRICS):
            ax = axes[r][c]
            for j, variant in enumerate(others):
                res = [per_lang[(variant, target, lang, metric)] for lang in langs]
                x = np.arange(len(langs)) + (j - (len(others) - 1) / 2) * width
                gain = np.array([q["gain"] for q in res])
                err = np.array([[q["gain"] - q["ci_low"] for q in res],
                                [q["ci_high"] - q["gain"] for q in res]])
                bars = ax.bar(x, gain, width, yerr=err, capsize=2, label=variant,
                              color=f"C{j}", edgecolor="black", linewidth=0.5)
                for bar, q in zip(bars, res, strict=True):
                    if not q["seen"]:
                        bar.set_hatch("//")
            ax.axhline(0, color="black", lw=0.8)
            ax.set_xticks(np.arange(len(langs)))
            ax.set_xticklabels(langs, fontsize=7)
            ax.set_title(f"{target}: Δ{metric.upper()} vs {m.baseline} (hatched: unseen)",
                         fontsize=8)
            ax.set_ylabel("points")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
