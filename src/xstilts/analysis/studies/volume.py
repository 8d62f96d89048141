"""Study 1: intermediate-task data volume.

Subsets. Fraction f of an intermediate task's English train split (n examples) keeps the
first max(1, round(f n)) indices of one permutation drawn with `studies.volume.subset_seed`
(independent of the training seed), so the subsets of one task are nested: f < f' implies
subset(f) ⊂ subset(f') (`xstilts.core.families.nested_subset`). Hyperparameters are the task's
`intermediate.hparams` (same epochs: fewer examples, fewer steps). The cells are trained and
evaluated by the main grid's code (`xstilts.core.cell`, family `volume`); this module is the
analysis. The full split (f = 1) is the main grid's own cell: `intermediate@<itask>-<seed>` and
`target@<itask>-<target>-<seed>` (the same training, so the study does not train it twice), so
`studies.volume.fractions` lists the fractions below 1.

Stages (dvc.yaml): `volume_intermediate@<itask>-<f>-<seed>` -> `models/volume/intermediate/
<itask>/frac<f>/seed<s>`; `volume_target@<itask>-<f>-<target>-<seed>` (English target training,
fresh head, then zero-shot evaluation) -> `models/volume/target/...`, `metrics/volume/eval/<itask>/
frac<f>/<target>/seed<s>.json` (`xstilts.core.records.EvalRecord`, with the fraction and the number
of intermediate training examples) and `metrics/volume/predictions/...`. The fraction's text as DVC
renders it names the folder; the analysis reads the fraction and size from the files, and the
full split's size from the main grid's `metrics/dev/intermediate/<itask>/seed<s>.json`.

Analysis: per intermediate task, target and language, the zero-shot score (main metric, mean
over seeds) against the number of intermediate training examples (with `include_baseline`,
the `none` cell of the main grid is the point at 0 examples); Pearson and Spearman r with
bootstrap intervals, the least-squares slope; a per-language plot.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from xstilts.analysis.studies import common
from xstilts.analysis.studies.common import Section, StudyResult
from xstilts.core.params import BASELINE, Params
from xstilts.core.paths import study_layout
from xstilts.core.records import EvalRecord

METRICS = study_layout("volume").metrics


# ---------------------------------------------------------------- analysis


def _full_split_size(dev_root: Path, itask: str, seed: int) -> int:
    """Training examples of the main grid's intermediate cell (the full split, f = 1)."""
    f = dev_root / "intermediate" / itask / f"seed{seed}.json"
    try:
        return int(json.loads(f.read_text())["train_examples"])
    except FileNotFoundError:
        raise FileNotFoundError(f"{f}: no dev record of the main grid's intermediate@{itask}-"
                                f"{seed} (the volume study's full split; run that stage)") from None
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{f}: no integer train_examples ({e})") from None


def load_volume_scores(p: Params, root: Path = METRICS, eval_root: Path = common.EVAL_ROOT,
                       dev_root: Path = common.DEV_ROOT) -> dict[tuple[str, str, str], dict]:
    """{(itask, target, lang): {train size: main-metric score, mean over seeds}} for the
    configured itasks, targets, fractions and seeds, and the full split from the main grid
    (missing files are errors); with `include_baseline`, size 0 = the `none` cell of the main
    grid."""
    v = p.studies.volume
    acc: dict[tuple[str, str, str], dict[int, list[float]]] = {}
    for itask in v.itasks:
        folders = {float(d.name[4:]): d for d in (root / "eval" / itask).glob("frac*")
                   if d.is_dir()}
        for f in v.fractions:
            if f not in folders:
                raise FileNotFoundError(f"no volume metrics for {itask} fraction {f} under "
                                        f"{root / 'eval' / itask} (run the volume stages)")
        full = {seed: _full_split_size(dev_root, itask, seed) for seed in p.seeds}
        for target in v.targets:
            for seed in p.seeds:
                files = [(folders[f] / target / f"seed{seed}.json", None) for f in v.fractions]
                files.append((eval_root / itask / target / f"seed{seed}.json", full[seed]))
                for path, size in files:
                    rec = EvalRecord.read(path)
                    n = int(rec.train_examples) if size is None else size
                    for lang in rec.languages:
                        acc.setdefault((itask, target, lang), {}).setdefault(n, []).append(
                            rec.score(lang))
        if v.include_baseline:
            for r in common.load_scores(eval_root, [BASELINE], v.targets, p.seeds):
                if r.main:
                    acc.setdefault((itask, r.target, r.lang), {}).setdefault(0, []).append(
                        r.score)
    return {k: {n: float(np.mean(s)) for n, s in sorted(by_n.items())} for k, by_n in acc.items()}


def analyse(p: Params, out_dir: Path, root: Path = METRICS, eval_root: Path = common.EVAL_ROOT,
            dev_root: Path = common.DEV_ROOT) -> StudyResult:
    """Write volume.{md,json,csv,png} to `out_dir`; return the result."""
    st, v = p.studies.stats, p.studies.volume
    curves = load_volume_scores(p, root, eval_root, dev_root)
    stats: dict[tuple[str, str, str], dict] = {}
    for (itask, target, lang), by_n in sorted(curves.items()):
        x, y = list(by_n), list(by_n.values())
        name = f"volume/{itask}/{target}/{lang}"
        stats[(itask, target, lang)] = {"corr": common.correlate(x, y, st, name),
                                        "fit": common.fit_line(x, y, st, name)}
    # the non-English mean per size: one curve per (itask, target)
    for itask in v.itasks:
        for target in v.targets:
            langs = [lang for (i, t, lang) in curves if (i, t) == (itask, target) and lang != "en"]
            sizes = sorted(set.intersection(*[set(curves[(itask, target, lang)]) for lang in
                                              langs])) if langs else []
            by_n = {n: float(np.mean([curves[(itask, target, lang)][n] for lang in langs]))
                    for n in sizes}
            curves[(itask, target, "avg_non_en")] = by_n
            name = f"volume/{itask}/{target}/avg"
            stats[(itask, target, "avg_non_en")] = {
                "corr": common.correlate(list(by_n), list(by_n.values()), st, name),
                "fit": common.fit_line(list(by_n), list(by_n.values()), st, name)}
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [_write_csv(out_dir / "volume.csv", curves), _plot(out_dir / "volume.png", p, curves)]
    metrics = {"curves": {f"{i}/{t}/{lang}": {str(n): s for n, s in c.items()}
                          for (i, t, lang), c in curves.items()},
               "stats": {f"{i}/{t}/{lang}": {"corr": s["corr"].as_dict(),
                                             "fit": s["fit"].as_dict()}
                         for (i, t, lang), s in stats.items()}}
    result = StudyResult("volume", _section(p, curves, stats), metrics, files)
    common.write_section(result, out_dir)
    return result


def _section(p: Params, curves, stats) -> Section:
    st, v = p.studies.stats, p.studies.volume
    tables = []
    for itask in v.itasks:
        for target in v.targets:
            keys = sorted(lang for (i, t, lang) in curves if (i, t) == (itask, target))
            sizes = sorted(set().union(*[curves[(itask, target, k)] for k in keys]))
            rows = []
            for lang in keys:
                s = stats[(itask, target, lang)]
                rows.append([lang, *[common.fmt(curves[(itask, target, lang)].get(n), 1)
                                     for n in sizes], *common.correlation_row(s["corr"]),
                             common.fmt(1000 * s["fit"].slope, 2, True)])
            tables.append(f"**{itask} → {target}** (score by number of intermediate training "
                          "examples)\n\n" + common.markdown_table(
                              ["language", *[str(n) for n in sizes], "n",
                               "Pearson r [CI]", "Spearman ρ [CI]", "slope per 1k examples"],
                              rows))
    lines = []
    for itask in v.itasks:
        for target in v.targets:
            s = stats[(itask, target, "avg_non_en")]
            c = s["corr"]
            lines.append(f"{itask} → {target}, non-English mean: Pearson r = "
                         f"{common.fmt(c.pearson)} {common.fmt_ci(c.pearson_ci)}, Spearman ρ = "
                         f"{common.fmt(c.spearman)} {common.fmt_ci(c.spearman_ci)}, slope "
                         f"{common.fmt(1000 * s['fit'].slope, 2, True)} points per 1k examples.")
    langs = {lang for (_, _, lang) in curves if lang != "avg_non_en"}
    n_sizes = len(v.fractions) + 1 + int(v.include_baseline)
    caveat = (f"{len(v.itasks)} intermediate task(s), {len(v.targets)} target(s), "
              f"{len(langs)} language(s), {len(p.seeds)} seed(s), {n_sizes} training sizes per "
              f"curve, base model `{p.model.name}` ({p.model.source}). A correlation over "
              f"{n_sizes} sizes is coarse; the intervals resample those few points. Subsets of a "
              "small embedded task are tiny: the curve shows the pipeline works, not a law of "
              "data volume.")
    base = (" The `none` baseline of the main grid is the point at 0 examples."
            if v.include_baseline else "")
    method = (f"Each intermediate task of `studies.volume.itasks` is trained on fractions "
              f"{v.fractions} of its English train split: nested subsets (the first round(f·n) "
              f"examples of one permutation with seed {v.subset_seed}), same hyperparameters, "
              "then fine-tuned on each English target and evaluated zero-shot. The full split "
              "is the main grid's own cell." + base +
              " Per target and language: score (main metric, mean over seeds) against the number "
              f"of intermediate training examples; Pearson and Spearman r with "
              f"{common.bootstrap_text(st)}; least-squares slope.")
    return Section("Study 1: intermediate-task data volume",
                   "How does the zero-shot score of each target and language change with the "
                   "amount of English intermediate training data?", method, tables, "volume.png",
                   lines, caveat)


def _write_csv(path: Path, curves) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["itask", "target", "lang", "train_examples", "score"])
        for (i, t, lang), by_n in sorted(curves.items()):
            for n, s in by_n.items():
                w.writerow([i, t, lang, n, f"{s:.6g}"])
    return path


def _plot(path: Path, p: Params, curves) -> Path:
    plt = common.plt()
    v = p.studies.volume
    rows, cols = max(1, len(v.itasks)), max(1, len(v.targets))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
    for r, itask in enumerate(v.itasks):
        for c, target in enumerate(v.targets):
            ax = axes[r][c]
            for (i, t, lang), by_n in sorted(curves.items()):
                if (i, t) != (itask, target):
                    continue
                style = {"color": "black", "lw": 2} if lang == "avg_non_en" else {"lw": 1}
                ax.plot(list(by_n), list(by_n.values()), marker="o", ms=3, label=lang, **style)
            ax.set_title(f"{itask} → {target}", fontsize=8)
            ax.set_xlabel("intermediate train examples")
            ax.set_ylabel("zero-shot score")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
