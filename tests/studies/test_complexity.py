"""Study 4 on fabricated data and metric files with known gaps, gains and correlations."""

from __future__ import annotations

import json
import math

import pytest
from datasets import Dataset

from tests.studies.fabricate import params, write_dev, write_eval
from xstilts.analysis.studies import complexity

GAP = {"none": 20.0, "cldr_region": 10.0, "cldr_currency": 30.0}  # English minus non-English


def _prepare(root):
    """cldr_region: 4 texts of 2 words, labels 0..3 (2 bits, 4 classes); cldr_currency:
    8 multiple-choice rows with 3 choices, labels half 0 half 1 (1 bit)."""
    Dataset.from_list([{"id": str(i), "text": "a b", "label": i} for i in range(4)]) \
        .save_to_disk(str(root / "cldr_region" / "en" / "train"))
    Dataset.from_list([{"id": str(i), "context": "c", "choices": ["x", "y", "z"],
                        "label": i % 2} for i in range(8)]) \
        .save_to_disk(str(root / "cldr_currency" / "en" / "train"))


def _fabricate(p, tmp_path):
    ev, dev, data = tmp_path / "eval", tmp_path / "dev", tmp_path / "data"
    _prepare(data)
    for itask in p.intermediate.tasks:
        for target in p.target.tasks:
            metric = "f1" if target in ("xcat_qa", "xcat_tag") else "acc"
            for seed in p.seeds:
                write_eval(ev, itask, target, seed, metric,
                           {"en": 90.0, "de": 90.0 - GAP[itask] - 5, "zh": 90.0 - GAP[itask] + 5})
        for target in p.evaluate.retrieval_tasks:  # no English test: gap undefined
            score = 70.0 - GAP[itask]
            write_eval(ev, itask, target, 0, "acc", {"de": score, "zh": score})
    write_dev(dev, "intermediate/cldr_region", 0, 90.0)
    write_dev(dev, "intermediate/cldr_currency", 0, 60.0)
    return ev, dev, data


def test_measures_gaps_gains_and_correlations(tmp_path):
    p = params({"complexity": {"length_unit": "words"}})
    ev, dev, data = _fabricate(p, tmp_path)
    res = complexity.analyse(p, tmp_path / "out", ev, dev, data)
    m = res.metrics["measures"]
    assert m["cldr_region"]["label_entropy"] == pytest.approx(2.0)
    assert m["cldr_region"]["n_classes"] == 4 and m["cldr_region"]["mean_length"] == 2
    assert m["cldr_currency"]["label_entropy"] == pytest.approx(1.0)
    assert m["cldr_currency"]["n_classes"] == 3 and m["cldr_currency"]["mean_length"] == 4
    assert m["cldr_currency"]["train_size"] == 8
    assert m["cldr_region"]["dev_difficulty"] == pytest.approx(0.1)
    cells = res.metrics["cells"]
    assert cells["none/xcat_pair"]["gap"] == pytest.approx(20.0)
    assert cells["cldr_currency/xcat_qa"]["gap"] == pytest.approx(30.0)
    assert cells["cldr_region/xcat_tag"]["gain"] == pytest.approx(10.0)
    assert cells["cldr_currency/xcat_tag"]["gain"] == pytest.approx(-10.0)
    assert math.isnan(cells["cldr_region/xname_retrieval"]["gap"])
    corr = res.metrics["correlation"]
    # larger train set (currency) <-> larger gap and lower gain: r = +1 and -1 exactly
    assert corr["train_size"]["gap"]["pearson"] == pytest.approx(1.0)
    assert corr["train_size"]["gain"]["pearson"] == pytest.approx(-1.0)
    assert corr["dev_difficulty"]["gap"]["spearman"] == pytest.approx(1.0)
    assert corr["label_entropy"]["gap"]["pearson"] == pytest.approx(-1.0)
    # gap is undefined for the retrieval target: 2 systems x 4 targets points; gain: x 5
    assert corr["train_size"]["gap"]["n"] == 8 and corr["train_size"]["gain"]["n"] == 10
    within = res.metrics["correlation_within_target"]
    assert within["train_size"]["gap"]["pearson"] == pytest.approx(1.0)
    assert within["mean_length"]["gain"]["spearman"] == pytest.approx(-1.0)
    md = (tmp_path / "out" / "complexity.md").read_text()
    assert "| cldr_currency | 1.00 | 3.0 | 4.0 | 8 | 0.400 |" in md
    assert "| train_size | gap | 8 | 1.00 [+1.00, +1.00]" in md
    assert (tmp_path / "out" / "complexity.png").stat().st_size > 0
    saved = json.loads((tmp_path / "out" / "complexity.json").read_text())
    assert saved["cells"]["none/xname_retrieval"]["gap"] is None


def test_tokens_need_the_base_model(tmp_path):
    p = params({"complexity": {"length_unit": "tokens"}})
    ev, dev, data = _fabricate(p, tmp_path)
    with pytest.raises(FileNotFoundError, match="length_unit"):
        complexity.analyse(p, tmp_path / "out", ev, dev, data, base=tmp_path / "nobase")


def test_entropy_and_input_text():
    assert complexity.entropy_bits([0, 0, 1, 1]) == pytest.approx(1.0)
    assert complexity.entropy_bits([5] * 7) == 0.0
    assert complexity.input_text("tagging", {"tokens": ["a", "b"]}) == "a b"


def test_centring_removes_target_levels():
    points = [("a", "t1"), ("b", "t1"), ("a", "t2"), ("b", "t2")]
    assert complexity._centre(points, [10.0, 20.0, -50.0, -40.0]) == [-5.0, 5.0, -5.0, 5.0]


def test_unknown_study_is_refused():
    from xstilts.analysis.studies import run_study

    with pytest.raises(KeyError, match="unknown study"):
        run_study(params(), "no_such_study", log=False)
