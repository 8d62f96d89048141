"""Study 5: linguistic diversity in task selection (URIEL distances from lang2vec).

Distances. For each URIEL feature set of `studies.typology.feature_sets` (default syntax_knn,
phonology_knn, inventory_knn, fam, geo; lang2vec 1.1.2 `get_features`), the cosine (or angular,
arccos(cos)/pi) distance between two languages' vectors; the URIEL distance is their mean.
Our ISO 639-1 codes map to ISO 639-3 through lang2vec's own table, except the macrolanguages,
which map to the individual language the data is in (ar -> arb, sw -> swh, zh -> cmn);
`studies.typology.iso639_3` overrides any code.

Selection rule (distance-weighted, leave-one-language-out). For target task T and language l,
the predicted gain of intermediate task I is a kernel-weighted mean of gains observed *without
l's own test scores*:

    g^(I, l) = sum_m w(l, m) g(I, m) / sum_m w(l, m),   w(l, m) = exp(-d(l, m) / b)

over m = English, whose gain is the English **dev** gain of the target (best English dev score
after I minus after `none`, `metrics/dev/target`), and every other non-English evaluation
language m != l of T (its test gain); d is the URIEL distance, b the bandwidth (default: the
median distance between the languages of T). The rule picks argmax_I g^(I, l). Compared with
the English-only choice argmax_I (English dev gain) and the oracle argmax_I g(I, l) (l's test
gain), on the low-resource languages: `low_resource` plus the `most_distant` languages farthest
from English. Regret = oracle gain - gain of the choice.

Regression: per intermediate task, the gain in each non-English language (mean over targets)
on that language's URIEL distance from English (slope, bootstrap interval, R²).
"""

from __future__ import annotations

import csv
import importlib.util
import os
import sys
import types
from pathlib import Path

import numpy as np

from xstilts.analysis.studies import common
from xstilts.analysis.studies.common import Section, StudyResult
from xstilts.core.params import BASELINE, Params, TypologyStudy

ENGLISH = "en"
# Macrolanguages whose URIEL entry is sparser than the individual language our data is in.
MACRO_TO_INDIVIDUAL = {"ar": "arb", "sw": "swh", "zh": "cmn", "fa": "pes", "ms": "zsm",
                       "et": "ekk", "lv": "lvs", "uz": "uzn", "ne": "npi", "om": "gaz"}


def _import_lang2vec():
    """`lang2vec.lang2vec`; its `import pkg_resources` (gone from setuptools >= 81) gets a
    one-function shim (`resource_filename`) when the real module is absent."""
    if "pkg_resources" not in sys.modules and importlib.util.find_spec("pkg_resources") is None:
        shim = types.ModuleType("pkg_resources")

        def resource_filename(package: str, name: str) -> str:
            spec = importlib.util.find_spec(package)
            return os.path.join(os.path.dirname(spec.origin), name)

        shim.resource_filename = resource_filename
        sys.modules["pkg_resources"] = shim
    import lang2vec.lang2vec as l2v

    return l2v


def iso639_3(langs: list[str], overrides: dict[str, str] | None = None) -> dict[str, str]:
    """{ISO 639-1 code: ISO 639-3 code of lang2vec}; an unknown code is an error."""
    l2v = _import_lang2vec()
    overrides = overrides or {}
    out = {}
    for lang in langs:
        code = overrides.get(lang) or MACRO_TO_INDIVIDUAL.get(lang) or l2v.LETTER_CODES.get(lang)
        if code is None and len(lang) == 3:
            code = lang
        if code is None or code not in l2v.URIEL_LANGUAGES:
            raise ValueError(f"language {lang!r}: no URIEL entry ({code!r}); set "
                             f"studies.typology.iso639_3.{lang} to its ISO 639-3 code")
        out[lang] = code
    return out


def _distance(u: np.ndarray, v: np.ndarray, kind: str) -> float:
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu == 0 or nv == 0:
        return float("nan")
    cos = float(np.clip(u @ v / (nu * nv), -1.0, 1.0))
    return 1.0 - cos if kind == "cosine" else float(np.arccos(cos) / np.pi)


def distances(langs: list[str], tp: TypologyStudy) -> dict[str, np.ndarray]:
    """{feature set or "uriel" (their mean): [n, n] distance matrix over `langs`}."""
    l2v = _import_lang2vec()
    codes = iso639_3(langs, tp.iso639_3)
    out = {}
    for fs in tp.feature_sets:
        feats = l2v.get_features([codes[lang] for lang in langs], fs)
        vecs = []
        for lang in langs:
            v = np.array([np.nan if x == "--" else float(x) for x in feats[codes[lang]]])
            vecs.append(v)
        mat = np.array(vecs)
        known = np.isfinite(mat).all(axis=0)  # features known for every language compared
        mat = mat[:, known]
        n = len(langs)
        out[fs] = np.array([[_distance(mat[i], mat[j], tp.distance) for j in range(n)]
                            for i in range(n)])
    out["uriel"] = np.mean([out[fs] for fs in tp.feature_sets], axis=0)
    return out


def low_resource_languages(tp: TypologyStudy, from_en: dict[str, float]) -> list[str]:
    """`low_resource` (those evaluated) plus the `most_distant` languages farthest from English."""
    chosen = [lang for lang in tp.low_resource if lang in from_en]
    ranked = sorted((lang for lang in from_en if lang not in chosen),
                    key=lambda lang: -from_en[lang])
    return chosen + ranked[:tp.most_distant]


def select(gains: dict[str, dict[str, float]], en_dev_gain: dict[str, float], lang: str,
           dist: dict[tuple[str, str], float], bandwidth: float) -> tuple[str, dict[str, float]]:
    """The distance-weighted leave-one-language-out choice for `lang` (see the module doc).

    gains: {itask: {language: test gain}}; en_dev_gain: {itask: English dev gain};
    dist[(a, b)]: URIEL distance. Returns (chosen itask, predicted gain per itask).
    `lang`'s own entry in `gains` is never read.
    """
    predicted = {}
    for itask, by_lang in gains.items():
        num = den = 0.0
        support = [(ENGLISH, en_dev_gain.get(itask))] + [
            (m, g) for m, g in sorted(by_lang.items()) if m not in (lang, ENGLISH)]
        for m, g in support:
            if g is None or not np.isfinite(g):
                continue
            w = float(np.exp(-dist[(lang, m)] / bandwidth))
            num, den = num + w * g, den + w
        predicted[itask] = num / den if den > 0 else float("nan")
    best = max(sorted(predicted), key=lambda i: (np.nan_to_num(predicted[i], nan=-np.inf)))
    return best, predicted


def _argmax(values: dict[str, float]) -> str:
    return max(sorted(values), key=lambda k: np.nan_to_num(values[k], nan=-np.inf))


def analyse(p: Params, out_dir: Path, eval_root: Path = common.EVAL_ROOT,
            dev_root: Path = common.DEV_ROOT,
            dist_fn=distances) -> StudyResult:
    """Write typology.{md,json,csv,png} to `out_dir`; `dist_fn(langs, tp)` gives the distance
    matrices (tests pass fabricated ones)."""
    tp, st = p.studies.typology, p.studies.stats
    trained = list(p.target.tasks)  # the selection needs English dev: trained targets only
    cells = common.cell_scores(common.load_scores(eval_root, p.intermediate.tasks, trained,
                                                  p.seeds))
    gains = common.gains(cells)
    systems = [i for i in p.intermediate.tasks if i != BASELINE]
    all_langs = sorted({lang for (_, _, lang) in cells} | {ENGLISH})
    dm = dist_fn(all_langs, tp)
    ix = {lang: k for k, lang in enumerate(all_langs)}
    dist = {(a, b): float(dm["uriel"][ix[a], ix[b]]) for a in all_langs for b in all_langs}
    from_en = {lang: dist[(lang, ENGLISH)] for lang in all_langs if lang != ENGLISH}
    per_set = {fs: {lang: float(m[ix[lang], ix[ENGLISH]]) for lang in from_en}
               for fs, m in dm.items()}
    low = low_resource_languages(tp, {lang: d for lang, d in from_en.items()
                                      if any((BASELINE, t, lang) in cells for t in trained)})

    selections = []
    for target in trained:
        langs = [lang for lang in common.languages(cells, target) if lang != ENGLISH]
        g = {i: {lang: gains[(i, target, lang)] for lang in langs
                 if (i, target, lang) in gains} for i in systems}
        base_dev = common.dev_score(f"target/{BASELINE}/{target}", p.seeds, dev_root)
        en_dev = {}
        for i in systems:
            d = common.dev_score(f"target/{i}/{target}", p.seeds, dev_root)
            en_dev[i] = d - base_dev if d is not None and base_dev is not None else float("nan")
        pair_d = [dist[(a, b)] for a in [*langs, ENGLISH] for b in [*langs, ENGLISH] if a < b]
        bw = tp.bandwidth if tp.bandwidth is not None else (
            float(np.median(pair_d)) if pair_d and np.median(pair_d) > 0 else 1.0)
        english_choice = _argmax(en_dev)
        for lang in low:
            if lang not in langs:
                continue
            chosen, pred = select(g, en_dev, lang, dist, bw)
            uniform, _ = select(g, en_dev, lang, dist, float("inf"))  # ablation: no distances
            truth = {i: g[i].get(lang, float("nan")) for i in systems}
            oracle = _argmax(truth)
            selections.append({
                "target": target, "lang": lang, "distance": from_en[lang], "bandwidth": bw,
                "method": chosen, "uniform": uniform, "english_only": english_choice,
                "oracle": oracle, "gain_method": truth[chosen], "gain_uniform": truth[uniform],
                "gain_english_only": truth[english_choice], "gain_oracle": truth[oracle],
                "regret_method": truth[oracle] - truth[chosen],
                "regret_uniform": truth[oracle] - truth[uniform],
                "regret_english_only": truth[oracle] - truth[english_choice],
                "predicted": pred})

    regressions = {}
    for i in systems:
        points = {}
        for lang in sorted(from_en):
            vals = [gains[(i, t, lang)] for t in trained if (i, t, lang) in gains]
            if vals:
                points[lang] = float(np.mean(vals))
        xs, ys = [from_en[lang] for lang in points], list(points.values())
        regressions[i] = {"fit": common.fit_line(xs, ys, st, f"typology/{i}"),
                          "corr": common.correlate(xs, ys, st, f"typology/{i}"),
                          "points": points}
    summary = _summary(selections)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [_write_csv(out_dir / "typology.csv", from_en, per_set),
             _plot(out_dir / "typology.png", regressions, from_en, low)]
    metrics = {"distance_from_en": per_set, "low_resource": low,
               "selection": selections, "selection_summary": summary,
               "regression": {i: {"fit": r["fit"].as_dict(), "corr": r["corr"].as_dict()}
                              for i, r in regressions.items()},
               "iso639_3": iso639_3(all_langs, tp.iso639_3) if dist_fn is distances else {}}
    section = _section(p, per_set, low, selections, summary, regressions, cells)
    result = StudyResult("typology", section, metrics, files)
    common.write_section(result, out_dir)
    return result


def _summary(selections: list[dict]) -> dict:
    if not selections:
        return {}
    out = {"n": len(selections)}
    for who in ("method", "uniform", "english_only"):
        out[f"{who}_matches_oracle"] = float(np.mean([s[who] == s["oracle"] for s in selections]))
        out[f"{who}_mean_regret"] = float(np.nanmean([s[f"regret_{who}"] for s in selections]))
        out[f"{who}_mean_gain"] = float(np.nanmean([s[f"gain_{who}"] for s in selections]))
    out["oracle_mean_gain"] = float(np.nanmean([s["gain_oracle"] for s in selections]))
    return out


def _section(p, per_set, low, selections, summary, regressions, cells) -> Section:
    tp, st = p.studies.typology, p.studies.stats
    sets = list(per_set)
    langs = sorted(per_set["uriel"], key=lambda lang: per_set["uriel"][lang])
    t_dist = common.markdown_table(
        ["language", *sets, "low-resource"],
        [[lang, *[common.fmt(per_set[fs][lang], 3) for fs in sets],
          "yes" if lang in low else ""] for lang in langs])
    t_sel = common.markdown_table(
        ["target", "language", "distance", "method", "gain", "uniform weights", "gain",
         "English-only", "gain", "oracle", "gain"],
        [[s["target"], s["lang"], common.fmt(s["distance"], 3), s["method"],
          common.fmt(s["gain_method"], 1, True), s["uniform"],
          common.fmt(s["gain_uniform"], 1, True), s["english_only"],
          common.fmt(s["gain_english_only"], 1, True), s["oracle"],
          common.fmt(s["gain_oracle"], 1, True)] for s in selections])
    t_reg = common.markdown_table(
        ["intermediate task", "n", "slope (gain per unit distance) [CI]", "R²", "Pearson r [CI]"],
        [[i, r["fit"].n, f"{common.fmt(r['fit'].slope, 1, True)} "
          f"{common.fmt_ci(r['fit'].slope_ci, 1)}", common.fmt(r["fit"].r2),
          f"{common.fmt(r['corr'].pearson)} {common.fmt_ci(r['corr'].pearson_ci)}"]
         for i, r in regressions.items()])
    stats = []
    if summary:
        stats.append(
            f"On {summary['n']} (target, low-resource language) cases the distance-weighted "
            f"rule matches the oracle in {100 * summary['method_matches_oracle']:.0f}% (mean "
            f"regret {common.fmt(summary['method_mean_regret'], 2)} points, mean gain "
            f"{common.fmt(summary['method_mean_gain'], 2, True)}), the English-only choice in "
            f"{100 * summary['english_only_matches_oracle']:.0f}% (regret "
            f"{common.fmt(summary['english_only_mean_regret'], 2)}, gain "
            f"{common.fmt(summary['english_only_mean_gain'], 2, True)}); oracle mean gain "
            f"{common.fmt(summary['oracle_mean_gain'], 2, True)}.")
    for i, r in regressions.items():
        stats.append(f"{i}: gain = {common.fmt(r['fit'].intercept, 1)} + "
                     f"{common.fmt(r['fit'].slope, 1)} × distance, slope interval "
                     f"{common.fmt_ci(r['fit'].slope_ci, 1)}, R² = {common.fmt(r['fit'].r2)}.")
    n_sys = len(regressions)
    caveat = common.scale_caveat(
        p, cells, f"{len(per_set['uriel'])} non-English languages give {len(per_set['uriel'])} "
        f"points per regression and {n_sys} candidate task(s) per choice; with so few "
        "candidates a rule matches the oracle by chance often. The bandwidth is not tuned.")
    bw = "the median pairwise distance" if tp.bandwidth is None else f"{tp.bandwidth:g}"
    method = (
        f"URIEL distances (lang2vec 1.1.2) from the feature sets {', '.join(tp.feature_sets)}: "
        f"{tp.distance} distance between feature vectors, averaged over the sets (`uriel`). "
        "Selection rule for target T and language l: predicted gain of task I = "
        "Σ_m w(l, m) g(I, m) / Σ_m w(l, m) with w = exp(−d(l, m)/b), over m = English (its "
        "English **dev** gain on T) and the other non-English languages of T (their test gains, "
        f"leave-one-language-out: l's own test scores are never used); b = {bw}. It is compared "
        "with the same rule with uniform weights (b = ∞: what the distances add), the "
        "English-only choice (best English dev gain) and the oracle (best test gain in "
        "l) on the low-resource languages (`low_resource` plus the "
        f"{tp.most_distant} languages farthest from English). Regression of the gain (mean over "
        f"targets) on distance from English, per intermediate task, with "
        f"{common.bootstrap_text(st)}.")
    return Section("Study 5: linguistic diversity in task selection",
                   "Do typological and genealogical distances from English help choose the "
                   "intermediate task for a low-resource language, and does the gain shrink with "
                   "distance?", method, [t_dist, t_sel, t_reg], "typology.png", stats, caveat)


def _write_csv(path: Path, from_en: dict, per_set: dict) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["lang", *per_set])
        for lang in sorted(from_en):
            w.writerow([lang, *[f"{per_set[fs][lang]:.6g}" for fs in per_set]])
    return path


def _plot(path: Path, regressions: dict, from_en: dict, low: list[str]) -> Path:
    plt = common.plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, r in regressions.items():
        pts = r["points"]
        xs = np.array([from_en[lang] for lang in pts])
        ys = np.array(list(pts.values()))
        ax.scatter(xs, ys, label=i)
        for lang, x, y in zip(pts, xs, ys, strict=True):
            ax.annotate(lang + ("*" if lang in low else ""), (x, y), fontsize=7)
        if np.isfinite(r["fit"].slope) and len(xs):
            grid = np.linspace(xs.min(), xs.max(), 20)
            ax.plot(grid, r["fit"].intercept + r["fit"].slope * grid)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("URIEL distance from English")
    ax.set_ylabel("gain over none (mean over targets)")
    ax.set_title("Gain vs distance (* = low-resource)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
