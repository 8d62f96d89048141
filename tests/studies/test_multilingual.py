"""Study 2 (multilingual intermediate data for QA): the analysis on fabricated metric and
prediction files with a known delta; params validation; the zero-shot guard's one exception;
the pooled per-language training set; the three stages in-process on a tiny random encoder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.studies.fabricate import ROOT, params, stage_names, studies_project
from tests.workdir import assert_trained_on_english_then_evaluated, prepared
from xstilts.analysis.studies import multilingual as ml
from xstilts.core.families import capped_subset, run_stage
from xstilts.core.params import ParamsError, parse_params
from xstilts.core.paths import Layout, study_layout
from xstilts.core.predictions import write_predictions
from xstilts.core.records import EvalRecord

LANGS = ["en", "de", "ru", "sw", "tr"]
N = 100  # test examples per language
VARIANTS = {"en_only": {"task": "cldr_qa", "languages": ["en"]},
            "multi": {"task": "cldr_qa", "languages": ["en", "de", "ru"]}}
STUDY = {"run": ["multilingual"], "multilingual": {
    "variants": VARIANTS, "targets": ["xcat_qa"],
    "hparams": {"cldr_qa": {"epochs": 1, "max_length": 64}}}}
# extra examples the multilingual variant gets exactly right (EM 0 -> 1, F1 0.5 -> 1), per lang


def LAYOUT(root: Path) -> Layout:  # noqa: N802  (the study's metrics layout under `root`)
    return Layout(metrics=root, predictions=root / "predictions")


EXTRA = {"en": 0, "de": 30, "ru": 20, "sw": 10, "tr": 0}


def _record(variant: str, seed: int, lang: str, em: list[float], f1: list[float]) -> dict:
    ids = [f"xcat_qa-{lang}-test-{i}" for i in range(N)]
    return {"task": "xcat_qa", "type": "span_qa", "lang": lang, "split": "test", "itask": variant,
            "seed": seed, "metric": "f1", "labels": [], "ids": ids,
            "per_example": {"em": em, "f1": f1}, "predictions": {i: "x" for i in ids}}


def _fabricate(p, root: Path) -> None:
    """Baseline: the first 40 examples right (EM 1, F1 1), the rest half right (EM 0, F1 0.5);
    `multi` also gets the next EXTRA[lang] examples right, so ΔEM = EXTRA and ΔF1 = EXTRA / 2
    points exactly, identically in every seed."""
    for seed in p.seeds:
        for variant in VARIANTS:
            scores = {}
            for lang in LANGS:
                right = 40 + (EXTRA[lang] if variant == "multi" else 0)
                em = [1.0 if i < right else 0.0 for i in range(N)]
                f1 = [1.0 if i < right else 0.5 for i in range(N)]
                write_predictions(LAYOUT(root).prediction_dir(variant, "xcat_qa", seed) /
                                  f"{lang}.json", _record(variant, seed, lang, em, f1))
                scores[lang] = {"em": 100 * np.mean(em), "f1": 100 * np.mean(f1)}
            EvalRecord.of(variant, "xcat_qa", seed, "f1", scores).write(
                LAYOUT(root).eval_file(variant, "xcat_qa", seed))


def test_analysis_gives_back_the_known_deltas(tmp_path):
    p = params(STUDY, seeds=[0, 1])
    root = tmp_path / "multilingual"
    _fabricate(p, root)
    res = ml.analyse(p, tmp_path / "out", root)
    gains = res.metrics["gains"]
    for lang, extra in EXTRA.items():
        em, f1 = gains[f"multi/xcat_qa/{lang}/em"], gains[f"multi/xcat_qa/{lang}/f1"]
        assert em["gain"] == pytest.approx(extra) and f1["gain"] == pytest.approx(extra / 2)
        assert em["seen"] == (lang in ("en", "de", "ru"))
        if extra:  # every resample keeps a positive gain: the smallest p, CI above 0
            assert 0 < em["ci_low"] <= extra <= em["ci_high"]
            assert em["p"] == pytest.approx(2 / (500 + 1)) and em["significant"]
        else:  # identical predictions: gain 0 in every resample
            assert (em["ci_low"], em["ci_high"], em["p"]) == (0.0, 0.0, 1.0)
        assert res.metrics["scores"][f"multi/xcat_qa/{lang}/em"] == pytest.approx(40 + extra)
    groups = res.metrics["groups"]
    assert groups["multi/xcat_qa/seen/em"]["gain"] == pytest.approx(25.0)  # de 30, ru 20
    assert groups["multi/xcat_qa/seen/em"]["languages"] == ["de", "ru"]
    assert groups["multi/xcat_qa/unseen/em"]["gain"] == pytest.approx(5.0)  # sw 10, tr 0
    assert groups["multi/xcat_qa/unseen/f1"]["gain"] == pytest.approx(2.5)
    assert groups["multi/xcat_qa/all/em"]["gain"] == pytest.approx(15.0)
    assert groups["multi/xcat_qa/seen/em"]["ci_low"] > 0
    md = (tmp_path / "out" / "multilingual.md").read_text()
    assert "## Study 2: multilingual intermediate data for QA" in md
    assert "| de | seen | 40.0 | 70.0 | +30.0† [" in md
    assert "| tr | unseen | 40.0 | 40.0 | +0.0 [+0.0, +0.0] | 70.0 | 70.0 | +0.0 [+0.0, +0.0]" \
        " | 1.000 |" in md
    assert "**Caveat of scale.**" in md and "Language exposure" in md
    for line in (tmp_path / "out" / "multilingual.csv").read_text().splitlines()[1:]:
        target, variant, lang, seen, metric, base, score, delta = line.split(",")[:8]
        assert float(delta) == pytest.approx(float(score) - float(base))
    assert (tmp_path / "out" / "multilingual.png").stat().st_size > 0
    saved = json.loads((tmp_path / "out" / "multilingual.json").read_text())
    assert saved["gains"]["multi/xcat_qa/de/f1"]["gain"] == pytest.approx(15.0)


def test_missing_seed_or_predictions_is_an_error(tmp_path):
    root = tmp_path / "multilingual"
    _fabricate(params(STUDY, seeds=[0]), root)
    with pytest.raises(FileNotFoundError, match="seed1.json"):
        ml.analyse(params(STUDY, seeds=[0, 1]), tmp_path / "out", root)
    (LAYOUT(root).prediction_dir("multi", "xcat_qa", 0) / "sw.json").unlink()
    with pytest.raises(FileNotFoundError, match="sw.json"):
        ml.analyse(params(STUDY, seeds=[0]), tmp_path / "out", root)


def test_switch_validation():
    assert params(STUDY).studies.multilingual.variants["multi"].languages == ["en", "de", "ru"]
    with pytest.raises(ParamsError, match="multilingual.variants must be"):
        params({"multilingual": STUDY["multilingual"]})
    with pytest.raises(ParamsError, match="give multilingual.variants"):
        params({"run": ["multilingual"], "multilingual": {"targets": ["xcat_qa"]}})
    with pytest.raises(ParamsError, match="give multilingual.variants"):  # no baseline variant
        params({"run": ["multilingual"], "multilingual": {
            "variants": {"multi": VARIANTS["multi"], "x": VARIANTS["en_only"]},
            "targets": ["xcat_qa"]}})

    def bad(match, **changes):
        study = json.loads(json.dumps(STUDY))
        for key, value in changes.items():
            study["multilingual"][key] = value
        with pytest.raises(ParamsError, match=match):
            params(study)

    bad("is a pair_classification task", targets=["xcat_pair"])
    bad("'xnli' is not in target.tasks", targets=["xnli"])
    bad("must be English-only", variants={**VARIANTS, "en_only": VARIANTS["multi"]})
    bad("has no 'fr' train split", variants={**VARIANTS, "multi": {
        "task": "cldr_qa", "languages": ["en", "fr"]}})
    bad("'cldr_region' has no 'de' train split", variants={**VARIANTS, "multi": {
        "task": "cldr_region", "languages": ["en", "de"]}})
    bad("'xcat_qa' is a target task", variants={**VARIANTS, "multi": {
        "task": "xcat_qa", "languages": ["en"]}})
    bad("repeated language", variants={**VARIANTS, "multi": {
        "task": "cldr_qa", "languages": ["en", "de", "de"]}})
    bad("studies.multilingual.variants.multi.cap", variants={**VARIANTS, "multi": {
        "task": "cldr_qa", "languages": ["en", "de"], "cap": 0}})
    bad("missing hyperparameters", hparams={})
    bad("unknown key", variants={**VARIANTS, "multi": {**VARIANTS["multi"], "weight": 2}})
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    del raw["tasks"]["cldr_qa"]
    raw["studies"] = STUDY
    with pytest.raises(ParamsError, match="'cldr_qa' is not declared under `tasks:`"):
        parse_params(yaml.safe_dump(raw))


def test_capped_subsets_are_deterministic_per_language():
    a = capped_subset(300, 50, 0, "de")
    assert len(a) == 50 and a == sorted(set(a)) and a == capped_subset(300, 50, 0, "de")
    assert a != capped_subset(300, 50, 0, "ru") and a != capped_subset(300, 50, 1, "de")
    assert capped_subset(30, 50, 0, "de") == list(range(30))
    assert capped_subset(30, None, 0, "de") == list(range(30))


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_switch_adds_and_removes_the_stages(tmp_path):
    def project(name: str, studies: dict) -> Path:
        return studies_project(tmp_path / name, studies)

    _stages = stage_names

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    study = {**raw["studies"]["multilingual"], "variants": VARIANTS}
    on = _stages(project("on", {"run": ["multilingual"], "multilingual": study}))
    assert [s for s in on if s.startswith(("multilingual_", "study"))] == [
        "multilingual_intermediate@en_only-0", "multilingual_intermediate@multi-0",
        "multilingual_target@en_only-xcat_qa-0", "multilingual_target@multi-xcat_qa-0",
        "study@multilingual"]
    off = _stages(project("off", {"run": []}))  # the repository's block: variants {}
    assert not [s for s in off if s.startswith(("multilingual_", "study"))]
    assert {"report", "prepare_model", "prepare_data@cldr_qa"} <= set(off)


# ---------------------------------------------------------------- the zero-shot guard


def test_guard_allows_non_english_train_only_for_multilingual_intermediate_data(tmp_path):
    from xstilts.core import data

    for name in ("cldr_qa", "xcat_qa"):
        data.prepare_task(name, parse_params((ROOT / "params.yaml").read_text()).tasks[name],
                          tmp_path / name)
    for purpose in ("train", "select"):  # everywhere else: English only, as before
        with pytest.raises(data.ZeroShotViolation, match="only read English"):
            data.load_split(tmp_path, "cldr_qa", "de", "train", purpose)
        with pytest.raises(data.ZeroShotViolation):
            data.load_split(tmp_path, "xcat_qa", "de", "dev", purpose)
    assert len(data.load_split(tmp_path, "cldr_qa", "de", "train", "multilingual_train")) == 300
    with pytest.raises(data.ZeroShotViolation, match="only the train split"):  # never dev/test
        data.load_split(tmp_path, "cldr_qa", "de", "dev", "multilingual_train")
    with pytest.raises(data.ZeroShotViolation, match="target task"):  # never a target's data
        data.load_split(tmp_path, "xcat_qa", "en", "train", "multilingual_train")
    with pytest.raises(data.ZeroShotViolation):
        data.load_split(tmp_path, "xcat_qa", "de", "test", "multilingual_train")


# ---------------------------------------------------------------- the stages, in-process


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_encoder_dir):
    """Prepared data + trimmed tiny base model in a temporary working directory."""

    tmp = tmp_path_factory.mktemp("multilingual")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["model"].update(source="hub", name=str(tiny_encoder_dir), trim_vocab=True)
    raw["tracking"]["uri"] = f"sqlite:///{tmp / 'mlflow.db'}"
    raw["runtime"]["bf16"] = False
    raw["intermediate"]["tasks"] = ["none"]
    raw["intermediate"]["hparams"] = {"none": None}
    raw["intermediate"]["mixtures"] = {}
    raw["target"]["tasks"] = ["xcat_qa"]
    raw["target"]["hparams"] = {"xcat_qa": {"epochs": 1, "max_length": 48, "batch_size": 16}}
    raw["tasks"] = {"cldr_qa": {"source": "embedded", "max_train": 24, "max_eval": 8,
                                "languages": ["en", "de", "ru", "zh"]},
                    "xcat_qa": {"source": "embedded", "max_train": 24, "max_eval": 6}}
    raw["evaluate"]["retrieval_tasks"] = []
    raw["studies"] = {"run": ["multilingual"], "multilingual": {
        "variants": {"en_only": {"task": "cldr_qa", "languages": ["en"]},
                     "multi": {"task": "cldr_qa", "languages": ["en", "de", "zh"], "cap": 16}},
        "targets": ["xcat_qa"],
        "hparams": {"cldr_qa": {"epochs": 1, "max_length": 48, "batch_size": 16}}}}
    with prepared(tmp, raw) as (p, _):
        yield tmp, p


def test_stages_train_on_the_pooled_languages_and_select_on_english(workdir):
    from xstilts.core import data

    tmp, p = workdir
    data.READ_LOG.clear()
    r = run_stage(p, "multilingual_intermediate", "multi", 0)
    assert r["train_examples_per_language"] == {"en": 16, "de": 16, "zh": 16}
    assert r["train_examples"] == 48
    reads = set(data.READ_LOG)
    assert ("cldr_qa", "en", "train", "train") in reads and ("cldr_qa", "en", "dev", "select") \
        in reads
    assert {(lang, split, purpose) for (_, lang, split, purpose) in reads if lang != "en"} == \
        {("de", "train", "multilingual_train"), ("zh", "train", "multilingual_train")}
    base = run_stage(p, "multilingual_intermediate", "en_only", 0)
    assert base["train_examples_per_language"] == {"en": 24}
    for variant in ("multi", "en_only"):
        data.READ_LOG.clear()
        ev = run_stage(p, "multilingual_target", variant, "xcat_qa", 0)  # trains, evaluates
        assert_trained_on_english_then_evaluated(data.READ_LOG)
        assert set(ev.languages) == {"en", "de", "es", "ru", "tr", "zh", "ar", "sw"}
        assert set(ev.languages["de"]) == {"em", "f1"}
        assert ev.variant == variant and ev.intermediate_task == "cldr_qa"
        assert (tmp / study_layout("multilingual").prediction_dir(variant, "xcat_qa", 0)
                / "sw.json").is_file()
    assert (tmp / study_layout("multilingual").intermediate_dir("multi", 0) / "run.json").is_file()
    from xstilts.analysis.studies import run_study
    from xstilts.core.tracking import Tracker

    metrics = run_study(p, "multilingual", tmp / "reports", log=True)  # + the MLflow parent run
    assert metrics["gains"]["multi/xcat_qa/de/f1"]["seen"] is True
    assert metrics["gains"]["multi/xcat_qa/sw/f1"]["seen"] is False
    assert metrics["train_examples"]["multi"] == {"en": 16, "de": 16, "zh": 16}
    tracker = Tracker(p.tracking)
    exp = tracker.client.get_experiment_by_name(p.tracking.experiment)
    runs = tracker.client.search_runs([exp.experiment_id], "tags.phase = 'study'")
    assert [r.data.tags["study"] for r in runs] == ["multilingual"]
    assert "gains/multi/xcat_qa/de/f1/gain" in runs[0].data.metrics
    trained = tracker.client.search_runs([exp.experiment_id], "tags.study = 'multilingual' and "
                                         "tags.phase = 'intermediate'")
    assert {r.data.tags["variant"] for r in trained} == {"multi", "en_only"}
    assert "en 16, de 16, zh 16" in (tmp / "reports" / "multilingual.md").read_text()
