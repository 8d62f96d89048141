"""XTREME aggregation: worked examples of evaluate.py's per-task and benchmark scores."""

from __future__ import annotations

import pytest

from xstilts.analysis.aggregate import task_score, xtreme_table
from xstilts.core.records import EvalRecord


def test_task_score_accuracy_with_and_without_english():
    langs = {"en": {"acc": 90.0}, "de": {"acc": 80.0}, "zh": {"acc": 70.0}}
    assert task_score(langs, "acc") == pytest.approx(80.0)  # (90 + 80 + 70) / 3
    assert task_score(langs, "acc", include_en=False) == pytest.approx(75.0)


def test_task_score_qa_is_mean_of_em_and_f1():
    langs = {"en": {"f1": 80.0, "em": 70.0}, "ar": {"f1": 60.0, "em": 40.0}}
    # avg f1 = 70, avg em = 55 -> (70 + 55) / 2
    assert task_score(langs, "f1") == pytest.approx(62.5)
    assert task_score(langs, "f1", include_en=False) == pytest.approx(50.0)


def test_task_score_only_english():
    assert task_score({"en": {"acc": 50.0}}, "acc", include_en=False) is None


def test_xtreme_table_benchmark_is_mean_over_tasks_and_seeds():
    def rec(target: str, seed: int, metric: str, languages: dict) -> EvalRecord:
        return EvalRecord.of("none", target, seed, metric, languages)

    cells = {
        ("none", "pawsx"): [rec("pawsx", 0, "acc", {"en": {"acc": 90.0}, "de": {"acc": 70.0}}),
                            rec("pawsx", 1, "acc", {"en": {"acc": 92.0}, "de": {"acc": 74.0}})],
        ("none", "xquad"): [rec("xquad", s, "f1", {"en": {"f1": 80.0, "em": 60.0},
                                                   "ru": {"f1": 50.0, "em": 30.0}})
                            for s in (0, 1)],
        ("none", "bucc"): [rec("bucc", s, "f1", {"de": {"f1": 40.0, "precision": 1.0,
                                                        "recall": 2.0}}) for s in (0, 1)],
    }
    t = xtreme_table(cells, ["none"], ["pawsx", "xquad", "bucc"])["none"]
    assert t["pawsx"] == {"with_en": pytest.approx(81.5), "without_en": pytest.approx(72.0)}
    assert t["xquad"] == {"with_en": pytest.approx(55.0), "without_en": pytest.approx(40.0)}
    assert t["bucc"] == {"with_en": pytest.approx(40.0), "without_en": pytest.approx(40.0)}
    assert t["benchmark"]["with_en"] == pytest.approx((81.5 + 55.0 + 40.0) / 3)
    assert t["benchmark"]["without_en"] == pytest.approx((72.0 + 40.0 + 40.0) / 3)
