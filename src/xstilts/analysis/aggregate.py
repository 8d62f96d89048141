"""XTREME's aggregation of per-language scores (google-research/xtreme, `evaluate.py`).

Per task: every metric averaged over the task's languages; the task score (`avg_metric`) is
``(avg EM + avg F1) / 2`` for span QA and the average main metric (F1 or accuracy) otherwise;
the benchmark score is the mean of the task scores. XTREME averages over all languages
including English; the zero-shot view drops English. Both are computed here.
"""

from __future__ import annotations

import numpy as np


def task_score(languages: dict[str, dict[str, float]], metric: str,
               include_en: bool = True) -> float | None:
    """XTREME's `avg_metric` of one run: ``languages`` maps language -> {metric: score}."""
    langs = [lang for lang in languages if include_en or lang != "en"]
    if not langs:
        return None
    avg = {m: float(np.mean([languages[lang][m] for lang in langs]))
           for m in languages[langs[0]]}
    if {"em", "f1"} <= avg.keys() and metric == "f1":  # span QA: XTREME's (EM + F1) / 2
        return (avg["em"] + avg["f1"]) / 2.0
    return avg[metric]


def xtreme_table(cells: dict[tuple[str, str], list], itasks: list[str],
                 targets: list[str]) -> dict[str, dict[str, dict[str, float | None]]]:
    """``{itask: {target | "benchmark": {"with_en": x, "without_en": y}}}``, means over seeds.

    ``cells[(itask, target)]`` is the list of per-seed evaluation records
    (`xstilts.core.records.EvalRecord`: ``languages``, ``metric``). The benchmark score is the mean
    of the task scores (a task without a score in a view, e.g. no non-English language, leaves
    that view's benchmark score undefined).
    """
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for itask in itasks:
        row: dict[str, dict[str, float | None]] = {}
        for target in targets:
            runs = cells[(itask, target)]
            row[target] = {}
            for view, include_en in (("with_en", True), ("without_en", False)):
                scores = [task_score(r.languages, r.metric, include_en) for r in runs]
                row[target][view] = (None if any(s is None for s in scores)
                                     else float(np.mean(scores)))
        row["benchmark"] = {
            view: (None if any(row[t][view] is None for t in targets)
                   else float(np.mean([row[t][view] for t in targets])))
            for view in ("with_en", "without_en")}
        out[itask] = row
    return out
