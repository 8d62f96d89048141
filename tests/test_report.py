"""The report on fabricated metric and prediction files with a known answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from xstilts.analysis.report import MARK, log_significance, write_report
from xstilts.core.params import parse_params
from xstilts.core.predictions import prediction_file, write_predictions
from xstilts.core.records import EvalRecord

ROOT = Path(__file__).resolve().parents[1]
N = 10  # examples per language


def _record(target: str, itask: str, seed: int, lang: str, correct: int) -> dict:
    """N examples, the first `correct` of them right (so the sets are nested across systems)."""
    ids = [f"{lang}-{i}" for i in range(N)]
    right = [int(i < correct) for i in range(N)]
    if target == "xcat_tag":  # one gold and one predicted entity per sentence: F1 = accuracy
        per = {"tp": right, "n_pred": [1] * N, "n_gold": [1] * N}
        preds = {i: ["B-country" if r else "B-month"] for i, r in zip(ids, right, strict=True)}
        kind = "tagging"
    elif target == "xcat_qa":
        per = {"em": right, "f1": right}
        preds = {i: "x" for i in ids}
        kind = "span_qa"
    else:
        per = {"acc": right}
        preds = {i: 0 for i in ids}
        kind = "retrieval" if target == "xname_retrieval" else "pair_classification"
    return {"task": target, "type": kind, "lang": lang, "split": "test", "itask": itask,
            "seed": seed, "metric": "f1" if kind in ("tagging", "span_qa") else "acc",
            "labels": [], "ids": ids, "per_example": per, "predictions": preds}


def _fabricate(p, root: Path, pred_root: Path, scores) -> None:
    """Metrics + prediction files; scores(k, lang) = score of intermediate task k in lang."""
    for k, itask in enumerate(p.intermediate.tasks):
        for target in p.target.tasks + p.evaluate.retrieval_tasks:
            metric = "f1" if target in ("xcat_qa", "xcat_tag") else "acc"
            for seed in p.seeds:
                langs = {lang: {metric: scores(k, lang, seed)} for lang in ("en", "de", "zh")}
                EvalRecord.of(itask, target, seed, metric, langs).write(
                    root / itask / target / f"seed{seed}.json")
                for lang, s in langs.items():
                    write_predictions(prediction_file(itask, target, seed, lang, pred_root),
                                      _record(target, itask, seed, lang, round(s[metric] / 10)))


def _params(**report):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["report"].update(report)
    return parse_params(yaml.safe_dump(raw))


def test_report_tables_and_gains(tmp_path):
    p = _params()
    root, preds = tmp_path / "eval", tmp_path / "predictions"
    # score = base + 10 * (itask index) for every non-English language, 90 for English;
    # 10 examples per language: cldr_region is right on 1 more example in de and zh than none
    # (P(a resample misses both) = 0.9^20 = 0.12: p ~ 0.24), cldr_currency on 2 more in each
    # (0.8^20 = 0.012: p ~ 0.023 < 0.05)
    _fabricate(p, root, preds,
               lambda k, lang, seed: 90.0 if lang == "en" else {"de": 40.0, "zh": 20.0}[lang]
               + 10 * k)
    table = write_report(p, tmp_path / "reports", root, preds)
    assert table["none"]["avg"] == 30.0
    assert table[p.intermediate.tasks[2]]["xcat_pair"] == 50.0
    text = (tmp_path / "reports" / "results.md").read_text()
    assert "| none | 30.0 | 30.0 | 30.0 | 30.0 | 30.0 | 30.0 |" in text
    assert "| cldr_region | 40.0 | 40.0 | 40.0 | 40.0 | 40.0 | 40.0† |" in text
    assert f"| cldr_currency | 50.0{MARK} | 50.0{MARK} | 50.0{MARK} | 50.0{MARK} | 50.0{MARK} |" \
        in text
    assert "| cldr_region | +10.0 | +10.0 | +10.0 | +10.0 | +10.0 | +10.0† |" in text
    # XTREME aggregation: (90 + 40 + 20) / 3 with English, (40 + 20) / 2 without
    assert "## XTREME aggregation" in text and "| none | 50.0 / 30.0 | 50.0 / 30.0 |" in text
    assert "| cldr_currency | +20.0† | +20.0† | +20.0† | +20.0† | +20.0† | +20.0† |" in text
    sig = json.loads((tmp_path / "reports" / "significance.json").read_text())
    region, currency = sig["cells"]["cldr_region"], sig["cells"]["cldr_currency"]
    assert region["xcat_tag"]["gain"] == pytest.approx(10.0)
    assert 0.1 < region["xcat_pair"]["p"] < 0.4 and not region["xcat_qa"]["significant"]
    assert 0.01 < currency["xcat_tag"]["p"] < 0.04 and currency["xcat_tag"]["significant"]
    assert currency["xcat_tag"]["ci_low"] >= 0 and currency["xcat_tag"]["ci_high"] <= 40
    # the avg column pools the 5 targets' resamples: +10 everywhere is significant there
    assert region["avg"]["significant"] and region["avg"]["p"] < 0.01
    # per language: de alone, 2 more right of 10 (0.8^10 = 0.11): not significant
    assert not sig["languages"]["cldr_currency"]["xcat_pair"]["de"]["significant"]
    gains = (tmp_path / "reports" / "gains.csv").read_text().splitlines()
    assert "cldr_region,xcat_pair,10.0000" in gains
    assert (tmp_path / "reports" / "gain_heatmap.png").read_bytes()[:4] == b"\x89PNG"


def test_identical_cells_are_not_marked_and_seeds_pair_up(tmp_path):
    """Every intermediate task equal to `none`: nothing marked, p = 1. Then two seeds where
    cldr_currency is right on every example on seed 0 and `none` wrong, the reverse on seed 1:
    resampled seed pairs give a gain of +100, 0, -100 (1/4, 1/2, 1/4), so p = 1."""
    p = _params()
    root, preds = tmp_path / "eval", tmp_path / "predictions"
    _fabricate(p, root, preds, lambda k, lang, seed: 50.0)
    write_report(p, tmp_path / "reports", root, preds)
    text = (tmp_path / "reports" / "results.md").read_text()
    assert "| cldr_region | +0.0 | +0.0 | +0.0 | +0.0 | +0.0 | +0.0 |" in text
    sig = json.loads((tmp_path / "reports" / "significance.json").read_text())
    assert all(c["p"] == 1.0 for row in sig["cells"].values() for c in row.values())

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["seeds"] = [0, 1]
    p2 = parse_params(yaml.safe_dump(raw))
    root2, preds2 = tmp_path / "eval2", tmp_path / "predictions2"
    flip = {0: (0.0, 100.0), 2: (100.0, 0.0)}  # (seed 0, seed 1) scores of none, cldr_currency
    _fabricate(p2, root2, preds2, lambda k, lang, seed: flip.get(k, (50.0, 50.0))[seed])
    write_report(p2, tmp_path / "reports2", root2, preds2)
    sig = json.loads((tmp_path / "reports2" / "significance.json").read_text())
    cell = sig["cells"]["cldr_currency"]["xcat_pair"]
    assert cell["gain"] == pytest.approx(0.0) and cell["p"] == 1.0
    assert cell["ci_low"] == pytest.approx(-100.0) and cell["ci_high"] == pytest.approx(100.0)
    text = (tmp_path / "reports2" / "results.md").read_text()
    assert "| cldr_currency | 50.0 ± 70.7 |" in text


def test_predictions_must_match_metrics(tmp_path):
    p = _params()
    root, preds = tmp_path / "eval", tmp_path / "predictions"
    _fabricate(p, root, preds, lambda k, lang, seed: 50.0 + 10 * k)
    rec = _record("xcat_pair", "cldr_region", 0, "de", 9)  # metrics say 60
    write_predictions(prediction_file("cldr_region", "xcat_pair", 0, "de", preds), rec)
    with pytest.raises(ValueError, match="prediction files give a gain"):
        write_report(p, tmp_path / "reports", root, preds)


def test_significance_runs_in_mlflow(tmp_path):
    """One run per cell, tagged itask/target, with gain, ci_low, ci_high and p."""
    p = _params(bootstrap_resamples=200)
    root, preds = tmp_path / "eval", tmp_path / "predictions"
    _fabricate(p, root, preds, lambda k, lang, seed: 50.0 + 10 * k)
    write_report(p, tmp_path / "reports", root, preds)

    class FakeTracker:
        def __init__(self):
            self.runs: dict[str, dict] = {}

        def start(self, name, tags, parent=None):
            self.runs[name] = {"tags": tags, "parent": parent, "metrics": {}}
            return name

        def log_params(self, run, params):
            self.runs[run]["params"] = params

        def log_metrics(self, run, values, step=0):
            self.runs[run]["metrics"].update(values)

        def finish(self, run):
            self.runs[run]["finished"] = True

    tracker = FakeTracker()
    runs = log_significance(p, tracker, tmp_path / "reports" / "significance.json", "parent")
    assert len(runs) == 2 * (len(p.target.tasks) + len(p.evaluate.retrieval_tasks) + 1)
    run = tracker.runs["cldr_region -> xcat_tag vs none"]
    assert run["tags"]["itask"] == "cldr_region" and run["tags"]["target"] == "xcat_tag"
    assert run["parent"] == "parent" and run["finished"]
    assert {"gain", "ci_low", "ci_high", "p", "gain/de", "p/zh"} <= set(run["metrics"])
    assert run["metrics"]["gain"] == pytest.approx(10.0)
    assert run["params"]["alpha"] == p.report.alpha


def test_report_requires_every_cell(tmp_path):
    p = parse_params(yaml.safe_dump(yaml.safe_load((ROOT / "params.yaml").read_text())))
    with pytest.raises(FileNotFoundError, match="missing evaluation metrics"):
        write_report(p, tmp_path / "reports", tmp_path / "nothing")


def test_report_requires_prediction_files(tmp_path):
    p = _params()
    root, preds = tmp_path / "eval", tmp_path / "predictions"
    _fabricate(p, root, preds, lambda k, lang, seed: 50.0)
    (prediction_file("cldr_region", "xcat_qa", 0, "zh", preds)).unlink()
    with pytest.raises(FileNotFoundError, match="missing prediction file"):
        write_report(p, tmp_path / "reports", root, preds)
