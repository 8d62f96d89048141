"""Shared pieces of the studies: a tidy table of scores, bootstrap correlations and slopes,
markdown report sections and the MLflow parent run of a study.

Scores come from the evaluate/retrieve stages' files `<root>/<itask>/<target>/seed<s>.json`
(``{"metric": main metric, "languages": {lang: {metric: score}}}``, scores 0-100).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from xstilts.core.params import BASELINE, Params, StudyStats
from xstilts.core.records import EvalRecord

EVAL_ROOT = Path("metrics/eval")
DEV_ROOT = Path("metrics/dev")


class Score(NamedTuple):
    """One row of the tidy table: a score (0-100) of one cell, seed, language and metric."""

    itask: str
    target: str
    seed: int
    lang: str
    metric: str
    score: float
    main: bool  # the target's main metric (the one the tables use)


def load_scores(root: Path = EVAL_ROOT, itasks: Iterable[str] | None = None,
                targets: Iterable[str] | None = None,
                seeds: Iterable[int] | None = None) -> list[Score]:
    """Every score of `root/<itask>/<target>/seed<s>.json`; filters keep only the given names
    and make a missing file an error (with no filter, whatever is on disk is read)."""
    root = Path(root)
    rows: list[Score] = []
    if itasks is not None and targets is not None and seeds is not None:
        files = [root / i / t / f"seed{s}.json" for i in itasks for t in targets for s in seeds]
    else:
        files = sorted(root.glob("*/*/seed*.json"))
        keep = [set(x) if x is not None else None for x in (itasks, targets, seeds)]
        files = [f for f in files
                 if (keep[0] is None or f.parent.parent.name in keep[0])
                 and (keep[1] is None or f.parent.name in keep[1])
                 and (keep[2] is None or int(f.stem[4:]) in keep[2])]
    for f in files:
        rec = EvalRecord.read(f)
        itask, target, seed = f.parent.parent.name, f.parent.name, int(f.stem[4:])
        for lang, scores in rec.languages.items():
            for metric, value in scores.items():
                rows.append(Score(itask, target, seed, lang, metric, float(value),
                                  metric == rec.metric))
    return rows


def cell_scores(rows: Iterable[Score]) -> dict[tuple[str, str, str], float]:
    """{(itask, target, lang): main-metric score averaged over seeds}."""
    acc: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for r in rows:
        if r.main:
            acc[(r.itask, r.target, r.lang)].append(r.score)
    return {k: float(np.mean(v)) for k, v in acc.items()}


def languages(cells: dict[tuple[str, str, str], float], target: str) -> list[str]:
    """Sorted languages scored on `target` (any intermediate task)."""
    return sorted({lang for (_, t, lang) in cells if t == target})


def gains(cells: dict[tuple[str, str, str], float]) -> dict[tuple[str, str, str], float]:
    """{(itask, target, lang): score - score of `none`} for every non-baseline cell."""
    return {(i, t, lang): s - cells[(BASELINE, t, lang)] for (i, t, lang), s in cells.items()
            if i != BASELINE and (BASELINE, t, lang) in cells}


def dev_score(phase_path: str, seeds: Sequence[int], root: Path = DEV_ROOT) -> float | None:
    """Mean over seeds of `best_dev` in `<root>/<phase_path>/seed<s>.json` (None if absent)."""
    vals = []
    for s in seeds:
        f = Path(root) / phase_path / f"seed{s}.json"
        if f.is_file():
            v = json.loads(f.read_text()).get("best_dev")
            if v is not None:
                vals.append(float(v))
    return float(np.mean(vals)) if vals else None


# ---------------------------------------------------------------- statistics


@dataclass
class Correlation:
    """Pearson and Spearman r with percentile-bootstrap intervals (resampling points)."""

    n: int
    pearson: float
    pearson_ci: tuple[float, float]
    pearson_p: float
    spearman: float
    spearman_ci: tuple[float, float]
    spearman_p: float
    valid_resamples: int  # resamples where both variables vary (r is defined)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Fit:
    """Least-squares line y = intercept + slope x, slope's bootstrap interval and R²."""

    n: int
    slope: float
    intercept: float
    slope_ci: tuple[float, float]
    r2: float

    def as_dict(self) -> dict:
        return asdict(self)


NAN = float("nan")


def _clean(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of the same length, got {x.shape} and {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def _ranks(a: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis (ties share their mean rank), as scipy.stats.rankdata."""
    from scipy.stats import rankdata

    return rankdata(a, axis=-1)


def _rows_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair of [B, n] arrays; NaN where a row is constant."""
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((xc ** 2).sum(axis=1) * (yc ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * yc).sum(axis=1) / den
    r[den <= 1e-12] = NAN
    return np.clip(r, -1.0, 1.0)


def _interval(values: np.ndarray, alpha: float) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return (NAN, NAN)
    lo, hi = np.percentile(v, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return (float(lo), float(hi))


def _draws(n: int, st: StudyStats, *names: str) -> np.ndarray:
    from xstilts.core.stats import derive_rng

    rng = derive_rng(st.bootstrap_seed, "studies", *names)
    return rng.integers(0, n, size=(st.bootstrap_resamples, n))


def correlate(x: Sequence[float], y: Sequence[float], st: StudyStats,
              name: str = "") -> Correlation:
    """Pearson and Spearman r of (x, y) (scipy.stats) with percentile-bootstrap intervals.

    Each of `st.bootstrap_resamples` resamples draws the n points with replacement (RNG from
    `st.bootstrap_seed` and `name`); a resample in which x or y is constant has no r and is left
    out (`valid_resamples` counts the others). Needs n >= 3 and both variables varying, else
    every number is NaN.
    """
    from scipy import stats as ss

    x, y = _clean(x, y)
    n = len(x)
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Correlation(n, NAN, (NAN, NAN), NAN, NAN, (NAN, NAN), NAN, 0)
    pr = ss.pearsonr(x, y)
    sr = ss.spearmanr(x, y)
    idx = _draws(n, st, "correlate", name)
    bx, by = x[idx], y[idx]
    boot_p = _rows_pearson(bx, by)
    boot_s = _rows_pearson(_ranks(bx), _ranks(by))
    return Correlation(n, float(pr.statistic), _interval(boot_p, st.alpha), float(pr.pvalue),
                       float(sr.statistic), _interval(boot_s, st.alpha), float(sr.pvalue),
                       int(np.isfinite(boot_p).sum()))


def fit_line(x: Sequence[float], y: Sequence[float], st: StudyStats, name: str = "") -> Fit:
    """OLS slope/intercept and R² of y on x; percentile-bootstrap interval of the slope over
    points (resamples with constant x are left out). NaN when n < 3 or x is constant."""
    x, y = _clean(x, y)
    n = len(x)
    if n < 3 or np.ptp(x) == 0:
        return Fit(n, NAN, NAN, (NAN, NAN), NAN)
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (intercept + slope * x)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((resid ** 2).sum()) / ss_tot if ss_tot > 0 else NAN
    idx = _draws(n, st, "fit", name)
    bx, by = x[idx], y[idx]
    xc = bx - bx.mean(axis=1, keepdims=True)
    den = (xc ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        b = (xc * (by - by.mean(axis=1, keepdims=True))).sum(axis=1) / den
    b[den <= 1e-12] = NAN
    return Fit(n, float(slope), float(intercept), _interval(b, st.alpha), r2)


# ---------------------------------------------------------------- report sections


def fmt(v: float | None, digits: int = 2, sign: bool = False) -> str:
    """A number for a table; NaN/None as 'n/a'."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def fmt_ci(ci: tuple[float, float], digits: int = 2) -> str:
    if any(math.isnan(c) for c in ci):
        return "n/a"
    return f"[{ci[0]:+.{digits}f}, {ci[1]:+.{digits}f}]"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def correlation_row(c: Correlation, digits: int = 2) -> list[str]:
    """n, Pearson r [CI], Spearman rho [CI] cells."""
    return [str(c.n), f"{fmt(c.pearson, digits)} {fmt_ci(c.pearson_ci, digits)}",
            f"{fmt(c.spearman, digits)} {fmt_ci(c.spearman_ci, digits)}"]


@dataclass
class Section:
    """A study's report section: question, method, table(s), plot, statistics, caveat."""

    title: str
    question: str
    method: str
    tables: list[str]
    plot: str | None  # path relative to the markdown file
    statistics: list[str]
    caveat: str

    def render(self) -> str:
        out = [f"## {self.title}", "", f"**Question.** {self.question}", "",
               f"**Method.** {self.method}", ""]
        for t in self.tables:
            out += [t, ""]
        if self.plot:
            out += [f"![{self.title}]({self.plot})", ""]
        if self.statistics:
            out += ["**Statistics.**", ""] + [f"- {s}" for s in self.statistics] + [""]
        out += [f"**Caveat of scale.** {self.caveat}", ""]
        return "\n".join(out)


@dataclass
class StudyResult:
    """What a study's `analyse` returns: the section, its metrics (JSON) and written files."""

    name: str
    section: Section
    metrics: dict
    files: list[Path] = field(default_factory=list)


def bootstrap_text(st: StudyStats) -> str:
    return (f"{100 * (1 - st.alpha):g}% percentile-bootstrap intervals over points "
            f"({st.bootstrap_resamples} resamples, seed {st.bootstrap_seed})")


def scale_caveat(p: Params, cells: dict[tuple[str, str, str], float], extra: str = "") -> str:
    """The caveat of scale, generated from params and the scores actually read."""
    itasks = sorted({i for (i, _, _) in cells})
    targets = sorted({t for (_, t, _) in cells})
    langs = sorted({lang for (_, _, lang) in cells})
    text = (f"{len(itasks)} intermediate task(s) ({', '.join(itasks)}), {len(targets)} target(s), "
            f"{len(langs)} language(s), {len(p.seeds)} seed(s), base model `{p.model.name}` "
            f"({p.model.source}).")
    embedded = [t for t in targets if t in p.tasks and p.tasks[t].source == "embedded"]
    if embedded:
        text += (" The targets are the embedded CLDR mini-benchmark (templated, small test "
                 "sets): the numbers exercise the analysis, they are not evidence.")
    return f"{text} {extra}".strip()


def write_section(result: StudyResult, out_dir: Path) -> Path:
    """`<out_dir>/<name>.md` (the section) and `<out_dir>/<name>.json` (its metrics)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / f"{result.name}.md"
    md.write_text(result.section.render())
    js = out_dir / f"{result.name}.json"
    js.write_text(json.dumps(_jsonable(result.metrics), indent=1, sort_keys=True))
    result.files += [md, js]
    return md


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return None if math.isnan(float(obj)) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def flat_metrics(metrics: dict, prefix: str = "") -> dict[str, float]:
    """Finite numbers of a nested dict as MLflow keys `a/b/c` (lists: index keys)."""
    out: dict[str, float] = {}
    items = metrics.items() if isinstance(metrics, dict) else enumerate(metrics)
    for k, v in items:
        key = f"{prefix}{k}"
        if isinstance(v, dict | list | tuple):
            out |= flat_metrics(v, key + "/")
        elif isinstance(v, bool):
            out[key] = float(v)
        elif isinstance(v, int | float | np.number) and math.isfinite(float(v)):
            out[key] = float(v)
    return {_mlflow_key(k): v for k, v in out.items()}


def _mlflow_key(key: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", key)[:250]


def log_study(p: Params, name: str, result: StudyResult, out_dir: Path, tracker=None) -> str:
    """One MLflow parent run `study <name>` (tags study, phase=study, dvc_stage) with the
    study's params, its metrics flattened, and its files as artifacts. Returns the run id."""
    from xstilts.core.tracking import Tracker

    tracker = tracker or Tracker(p.tracking)
    run = tracker.start(f"study {name}", {"study": name, "phase": "study",
                                          "dvc_stage": f"study@{name}"})
    tracker.log_params(run, {"study": getattr(p.studies, name).model_dump(),
                             "stats": p.studies.stats.model_dump(), "seeds": p.seeds,
                             "model": p.model.name})
    tracker.log_metrics(run, flat_metrics(result.metrics))
    for f in result.files:
        if Path(f).is_file():
            tracker.log_artifact(run, Path(f))
    tracker.finish(run)
    return run


def plt():
    """matplotlib.pyplot with the non-interactive backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot
