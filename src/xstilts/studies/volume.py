"""Study 1: intermediate-task data volume.

Subsets. Fraction f of an intermediate task's English train split (n examples) keeps the
first max(1, round(f n)) indices of one permutation drawn with `studies.volume.subset_seed`
(independent of the training seed), so the subsets of one task are nested: f < f' implies
subset(f) ⊂ subset(f'). Hyperparameters are the task's `intermediate.hparams` (same epochs:
fewer examples, fewer steps).

Stages (dvc.yaml): `volume_intermediate@<itask>-<f>-<seed>` -> `models/volume/intermediate/
<itask>/frac<f>/seed<s>`; `volume_target@<itask>-<f>-<target>-<seed>` (English target training,
fresh head) -> `models/volume/target/...`; `volume_evaluate@...` -> `metrics/volume/eval/<itask>/
frac<f>/<target>/seed<s>.json` (same format as `metrics/eval`). The fraction's text as DVC
renders it names the folder; the analysis reads the fraction and size from the files.

Analysis: per intermediate task, target and language, the zero-shot score (main metric, mean
over seeds) against the number of intermediate training examples (with `include_baseline`,
the `none` cell of the main grid is the point at 0 examples); Pearson and Spearman r with
bootstrap intervals, the least-squares slope; a per-language plot.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path

import numpy as np

from xstilts.params import BASELINE, Params
from xstilts.paths import write_json
from xstilts.studies import common
from xstilts.studies.common import Section, StudyResult

log = logging.getLogger(__name__)

DATA = Path("data/prepared")
BASE = Path("models/base")
MODELS = Path("models/volume")
METRICS = Path("metrics/volume")


def nested_subset(n: int, fraction: float, seed: int) -> list[int]:
    """Sorted indices of the first max(1, round(fraction n)) positions of one seeded
    permutation of range(n): nested across fractions, deterministic in (n, seed)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if n < 1:
        raise ValueError("cannot subset an empty split")
    perm = np.random.default_rng(np.random.SeedSequence([seed, n])).permutation(n)
    k = max(1, int(round(fraction * n)))
    return sorted(int(i) for i in perm[:k])


def intermediate_dir(itask: str, frac: str, seed: int, root: Path = MODELS) -> Path:
    return root / "intermediate" / itask / f"frac{frac}" / f"seed{seed}"


def target_dir(itask: str, frac: str, target: str, seed: int, root: Path = MODELS) -> Path:
    return root / "target" / itask / f"frac{frac}" / target / f"seed{seed}"


def eval_file(itask: str, frac: str, target: str, seed: int, root: Path = METRICS) -> Path:
    return root / "eval" / itask / f"frac{frac}" / target / f"seed{seed}.json"


def dev_file(phase: str, path: str, seed: int, root: Path = METRICS) -> Path:
    return root / "dev" / phase / path / f"seed{seed}.json"


def _write_json(path: Path, obj: dict) -> None:
    write_json(path, common._jsonable(obj))


def _train(p: Params, task_name: str, init: Path, out: Path, hp, seed: int, tracker, run: str,
           desc: str, subset: tuple[float, int] | None = None, train_ds=None) -> dict:
    """Train `task_name` on English from checkpoint `init` (on a nested subset of the train
    split when `subset` = (fraction, subset_seed); on `train_ds` when given, e.g. study 2's
    multilingual train set); select on English dev; save to `out`."""
    from xstilts.data import load_split
    from xstilts.modeling import TaskModel, load_encoder
    from xstilts.phases import run_settings
    from xstilts.tasks import get_task
    from xstilts.train import set_seed, setup_runtime, train_task

    task = get_task(task_name)
    device, bf16 = setup_runtime(p.runtime)
    encoder, tokenizer = load_encoder(init, p.model.trust_remote_code)
    set_seed(seed)  # the fresh head's initialisation depends on the seed only
    model = TaskModel(encoder, task, p.model.pooling, hp.dropout, label_piece=hp.label_piece)
    if train_ds is None:
        train_ds = load_split(DATA, task_name, "en", "train", "train")
    n_full = len(train_ds)
    if subset is not None:
        train_ds = train_ds.select(nested_subset(n_full, subset[0], subset[1]))
    dev_ds = load_split(DATA, task_name, "en", "dev", "select")
    t0 = time.time()

    def on_eval(point: dict) -> None:
        tracker.log_metrics(run, {f"dev/{k}": v for k, v in point.items() if k != "step"},
                            step=point["step"])

    res = train_task(model, tokenizer, train_ds, dev_ds, hp, seed, device, bf16,
                     p.evaluate.batch_size, on_eval, desc)
    model.cpu().save(out, tokenizer, {"best_dev": res.best_score, "best_step": res.best_step,
                                      **run_settings(hp)})
    result = {"task": task_name, "seed": seed, "best_dev": res.best_score,
              "best_step": res.best_step, "steps": res.steps,
              "train_seconds": round(time.time() - t0, 1), "train_examples": len(train_ds),
              "train_examples_full": n_full}
    tracker.log_metrics(run, {f"best_dev/{task.metric}": res.best_score,
                              "train_examples": len(train_ds)})
    return result


def run_volume_intermediate(p: Params, itask: str, frac: str, seed: int) -> dict:
    """Stage volume_intermediate: train `itask` from the base model on fraction `frac`."""
    from xstilts.phases import fresh_dir
    from xstilts.tracking import Tracker, write_run_id

    fraction = float(frac)
    out = fresh_dir(intermediate_dir(itask, frac, seed))
    tracker = Tracker(p.tracking)
    run = tracker.start(f"volume {itask} f={frac} seed{seed}",
                        {"study": "volume", "itask": itask, "fraction": frac, "seed": str(seed),
                         "phase": "intermediate",
                         "dvc_stage": f"volume_intermediate@{itask}-{frac}-{seed}"})
    hp = p.intermediate_hparams(itask)
    tracker.log_params(run, {"hparams": hp.model_dump(), "fraction": fraction,
                             "subset_seed": p.studies.volume.subset_seed, "seed": seed})
    result = _train(p, itask, BASE, out, hp, seed, tracker, run, f"volume {itask} f={frac}",
                    (fraction, p.studies.volume.subset_seed))
    result["fraction"] = fraction
    _write_json(dev_file("intermediate", f"{itask}/frac{frac}", seed), result)
    write_run_id(out, run, tracker.uri)
    tracker.finish(run)
    return result


def run_volume_target(p: Params, itask: str, frac: str, target: str, seed: int) -> dict:
    """Stage volume_target: English target training from the volume intermediate checkpoint."""
    from xstilts.phases import fresh_dir
    from xstilts.tracking import Tracker, read_run_id, write_run_id

    src = intermediate_dir(itask, frac, seed)
    out = fresh_dir(target_dir(itask, frac, target, seed))
    tracker = Tracker(p.tracking)
    parent = read_run_id(src)
    run = tracker.start(f"volume {itask} f={frac} -> {target} seed{seed}",
                        {"study": "volume", "itask": itask, "fraction": frac, "target": target,
                         "seed": str(seed), "phase": "target",
                         "dvc_stage": f"volume_target@{itask}-{frac}-{target}-{seed}"},
                        parent=parent if tracker.exists(parent) else None)
    hp = p.target.hparams[target]
    tracker.log_params(run, {"hparams": hp.model_dump(), "seed": seed})
    result = _train(p, target, src, out, hp, seed, tracker, run,
                    f"volume target {itask} f={frac}->{target}")
    _write_json(dev_file("target", f"{itask}/frac{frac}/{target}", seed), result)
    write_run_id(out, run, tracker.uri)
    tracker.finish(run)
    return result


def run_volume_evaluate(p: Params, itask: str, frac: str, target: str, seed: int) -> dict:
    """Stage volume_evaluate: zero-shot scores of every language's test split."""
    from xstilts.data import load_split
    from xstilts.evaluation import score_split
    from xstilts.modeling import load_task_model
    from xstilts.tasks import get_task
    from xstilts.tracking import Tracker, metric_key, read_run_id
    from xstilts.train import setup_runtime

    task = get_task(target)
    ckpt = target_dir(itask, frac, target, seed)
    device, bf16 = setup_runtime(p.runtime)
    model, tokenizer = load_task_model(ckpt, task, p.model.trust_remote_code)
    model.to(device)
    hp = p.target.hparams[target]
    src = p.tasks[target]
    langs = [lang for lang in (src.languages or list(task.languages))
             if task.has_split(lang, "test")]
    scores = {}
    for lang in langs:
        ds = load_split(DATA, target, lang, "test", "evaluate")
        scores[lang] = score_split(model, task, ds, tokenizer, lang, hp.max_length, hp.stride,
                                   p.evaluate.batch_size, device, bf16,
                                   f"volume test {itask} f={frac}->{target} {lang}")
    inter = json.loads(dev_file("intermediate", f"{itask}/frac{frac}", seed).read_text())
    non_en = [s[task.metric] for lang, s in scores.items() if lang != "en"]
    result = {"itask": itask, "target": target, "seed": seed, "metric": task.metric,
              "fraction": float(frac), "train_examples": inter["train_examples"],
              "languages": scores, "avg_non_en": float(np.mean(non_en)) if non_en else None}
    _write_json(eval_file(itask, frac, target, seed), result)
    tracker = Tracker(p.tracking)
    run = read_run_id(ckpt)
    if tracker.exists(run):
        tracker.log_metrics(run, {metric_key(target, m, lang): v
                                  for lang, s in scores.items() for m, v in s.items()})
    return result


# ---------------------------------------------------------------- analysis


def load_volume_scores(p: Params, root: Path = METRICS,
                       eval_root: Path = common.EVAL_ROOT) -> dict[tuple[str, str, str], dict]:
    """{(itask, target, lang): {train size: main-metric score, mean over seeds}} for the
    configured itasks, targets, fractions and seeds (missing files are errors); with
    `include_baseline`, size 0 = the `none` cell of the main grid."""
    v = p.studies.volume
    acc: dict[tuple[str, str, str], dict[int, list[float]]] = {}
    for itask in v.itasks:
        folders = {float(d.name[4:]): d for d in (root / "eval" / itask).glob("frac*")
                   if d.is_dir()}
        for f in v.fractions:
            if f not in folders:
                raise FileNotFoundError(f"no volume metrics for {itask} fraction {f} under "
                                        f"{root / 'eval' / itask} (run the volume stages)")
            for target in v.targets:
                for seed in p.seeds:
                    path = folders[f] / target / f"seed{seed}.json"
                    if not path.is_file():
                        raise FileNotFoundError(f"missing volume metrics {path}")
                    rec = json.loads(path.read_text())
                    for lang, s in rec["languages"].items():
                        acc.setdefault((itask, target, lang), {}).setdefault(
                            int(rec["train_examples"]), []).append(float(s[rec["metric"]]))
        if v.include_baseline:
            for r in common.load_scores(eval_root, [BASELINE], v.targets, p.seeds):
                if r.main:
                    acc.setdefault((itask, r.target, r.lang), {}).setdefault(0, []).append(
                        r.score)
    return {k: {n: float(np.mean(s)) for n, s in sorted(by_n.items())} for k, by_n in acc.items()}


def analyse(p: Params, out_dir: Path, root: Path = METRICS,
            eval_root: Path = common.EVAL_ROOT) -> StudyResult:
    """Write volume.{md,json,csv,png} to `out_dir`; return the result."""
    st, v = p.studies.stats, p.studies.volume
    curves = load_volume_scores(p, root, eval_root)
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
    n_sizes = len(v.fractions) + int(v.include_baseline)
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
              "then fine-tuned on each English target and evaluated zero-shot." + base +
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
