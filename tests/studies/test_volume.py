"""Study 1: nested subsets; the analysis on fabricated curves with a known slope; the volume
stages in-process on a tiny random encoder (zero-shot rule, subset sizes, file formats)."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.studies.fabricate import ROOT, params, write_eval
from tests.workdir import assert_trained_on_english_then_evaluated, prepared
from xstilts.analysis.studies import volume
from xstilts.core import cell
from xstilts.core.families import nested_subset, resolve, run_stage
from xstilts.core.params import ParamsError
from xstilts.core.paths import Layout, study_layout
from xstilts.core.records import EvalRecord

SLOPE = 0.05  # score points per intermediate training example


def test_nested_subsets_are_nested_and_deterministic():
    n = 97
    subsets = [nested_subset(n, f, seed=3) for f in (0.01, 0.1, 0.25, 0.5, 1.0)]
    assert [len(s) for s in subsets] == [1, 10, 24, 48, 97]
    for small, big in zip(subsets, subsets[1:], strict=False):
        assert set(small) < set(big)
    assert subsets[-1] == list(range(n))
    assert nested_subset(n, 0.25, seed=3) == subsets[2]
    assert nested_subset(n, 0.25, seed=4) != subsets[2]
    assert subsets[1] != list(range(10))  # a random subset, not the head of the split
    with pytest.raises(ValueError):
        nested_subset(n, 0.0, 0)


def _scores(n: int) -> dict[str, float]:
    return {"en": 60 + SLOPE * n, "de": 40 + SLOPE * n, "sw": 30 + 2 * SLOPE * n}


def _fabricate_curves(p, tmp_path, n_full=400):
    """The volume stages' records below 1, the main grid's cells (the full split, with its
    intermediate dev record) and the `none` baseline."""
    root, ev, dev = tmp_path / "volume", tmp_path / "eval", tmp_path / "dev"
    v = p.studies.volume
    for itask in v.itasks:
        for f in v.fractions:
            n = round(f * n_full)
            for target in v.targets:
                for seed in p.seeds:
                    out = Layout(metrics=root).eval_file(f"{itask}/frac{f}", target, seed)
                    EvalRecord.of(itask, target, seed, "acc",
                                  {lang: {"acc": s} for lang, s in _scores(n).items()},
                                  train_examples=n, fraction=f).write(out)
        for seed in p.seeds:
            (dev / "intermediate" / itask).mkdir(parents=True, exist_ok=True)
            (dev / "intermediate" / itask / f"seed{seed}.json").write_text(
                json.dumps({"task": itask, "seed": seed, "train_examples": n_full}))
            for target in v.targets:
                write_eval(ev, itask, target, seed, "acc", _scores(n_full))
    for target in v.targets:
        write_eval(ev, "none", target, 0, "acc", {"en": 60.0, "de": 40.0, "sw": 30.0})
    return root, ev, dev


def test_analysis_recovers_a_perfect_linear_curve(tmp_path):
    p = params({"run": ["volume"], "volume": {
        "itasks": ["cldr_currency"], "targets": ["xcat_pair", "xcat_choice"],
        "fractions": [0.1, 0.25, 0.5]}})
    root, ev, dev = _fabricate_curves(p, tmp_path)
    res = volume.analyse(p, tmp_path / "out", root, ev, dev)
    curve = res.metrics["curves"]["cldr_currency/xcat_pair/de"]
    assert curve == {"0": 40.0, "40": 42.0, "100": 45.0, "200": 50.0, "400": 60.0}
    for lang, slope in (("de", SLOPE), ("sw", 2 * SLOPE), ("avg_non_en", 1.5 * SLOPE)):
        s = res.metrics["stats"][f"cldr_currency/xcat_choice/{lang}"]
        assert s["corr"]["pearson"] == pytest.approx(1.0)
        assert s["corr"]["spearman"] == pytest.approx(1.0)
        assert s["fit"]["slope"] == pytest.approx(slope) and s["fit"]["n"] == 5
    md = (tmp_path / "out" / "volume.md").read_text()
    assert "| de | 40.0 | 42.0 | 45.0 | 50.0 | 60.0 | 5 | 1.00 [+1.00, +1.00]" in md
    assert (tmp_path / "out" / "volume.png").stat().st_size > 0
    assert "The full split is the main grid's own cell" in md


def test_the_full_split_is_the_main_grids_cell(tmp_path):
    """Size and scores of f = 1 come from the main grid's records: changing them moves the
    curve's last point; without the main grid's dev record the analysis says which file."""
    p = params({"run": ["volume"], "volume": {
        "itasks": ["cldr_currency"], "targets": ["xcat_pair"], "fractions": [0.5]}})
    root, ev, dev = _fabricate_curves(p, tmp_path)
    write_eval(ev, "cldr_currency", "xcat_pair", 0, "acc", {"en": 1.0, "de": 2.0, "sw": 3.0})
    dev_file = dev / "intermediate" / "cldr_currency" / "seed0.json"
    dev_file.write_text(json.dumps({"train_examples": 333}))
    res = volume.analyse(p, tmp_path / "out", root, ev, dev)
    assert res.metrics["curves"]["cldr_currency/xcat_pair/de"] == {"0": 40.0, "200": 50.0,
                                                                   "333": 2.0}
    dev_file.unlink()
    with pytest.raises(FileNotFoundError, match="intermediate@cldr_currency-0"):
        volume.analyse(p, tmp_path / "out", root, ev, dev)


def test_missing_fraction_is_an_error(tmp_path):
    p = params({"run": ["volume"], "volume": {
        "itasks": ["cldr_currency"], "targets": ["xcat_pair"], "fractions": [0.1, 0.5]}})
    root, ev, dev = _fabricate_curves(p, tmp_path)
    p2 = params({"run": ["volume"], "volume": {
        "itasks": ["cldr_currency"], "targets": ["xcat_pair"], "fractions": [0.1, 0.3]}})
    with pytest.raises(FileNotFoundError, match="fraction 0.3"):
        volume.analyse(p2, tmp_path / "out", root, ev, dev)


def test_switch_validation():
    with pytest.raises(ParamsError, match="volume.itasks must be"):
        params({"volume": {"itasks": ["cldr_region"], "targets": ["xcat_pair"]}})
    with pytest.raises(ParamsError, match="give volume.itasks"):
        params({"run": ["volume"]})
    with pytest.raises(ParamsError, match="unknown study"):
        params({"run": ["volumes"]})
    with pytest.raises(ParamsError, match="not a trained task"):
        params({"run": ["volume"], "volume": {"itasks": ["none"], "targets": ["xcat_pair"]}})
    with pytest.raises(ParamsError, match="repeated value"):
        params({"volume": {"fractions": [0.5, 0.50]}})
    with pytest.raises(ParamsError, match="studies.volume.fractions"):
        params({"volume": {"fractions": [0.0]}})
    with pytest.raises(ParamsError, match="studies.volume.fractions.*main grid's own cell"):
        params({"volume": {"fractions": [0.5, 1.0]}})


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_encoder_dir):
    """Prepared data + trimmed tiny base model in a temporary working directory."""

    tmp = tmp_path_factory.mktemp("volume")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["model"].update(source="hub", name=str(tiny_encoder_dir), trim_vocab=True)
    raw["tracking"]["uri"] = f"sqlite:///{tmp / 'mlflow.db'}"
    raw["runtime"]["bf16"] = False
    raw["intermediate"]["tasks"] = ["none", "cldr_region"]
    raw["intermediate"]["hparams"] = {"none": None, "cldr_region": {"epochs": 1, "max_length": 32}}
    raw["target"]["tasks"] = ["xcat_pair"]
    raw["target"]["hparams"] = {"xcat_pair": {"epochs": 1, "max_length": 48, "batch_size": 16}}
    raw["tasks"] = {t: {"source": "embedded", "max_train": 40, "max_eval": 8}
                    for t in ["cldr_region", "xcat_pair"]}
    raw["evaluate"]["retrieval_tasks"] = []
    raw["studies"] = {"run": ["volume"], "volume": {
        "itasks": ["cldr_region"], "targets": ["xcat_pair"], "fractions": [0.25]}}
    with prepared(tmp, raw) as (p, _):
        yield tmp, p


def test_volume_stages_train_on_the_subset_and_read_only_english(workdir):
    from xstilts.core import data

    tmp, p = workdir
    data.READ_LOG.clear()
    r = run_stage(p, "volume_intermediate", "cldr_region", "0.25", 0)
    assert r["train_examples"] == 10 and r["train_examples_full"] == 40
    ev = run_stage(p, "volume_target", "cldr_region", "0.25", "xcat_pair", 0)  # + evaluates
    assert_trained_on_english_then_evaluated(data.READ_LOG)
    assert ev.train_examples == 10 and "sw" in ev.languages
    layout = study_layout("volume")
    saved = json.loads((tmp / layout.eval_file("cldr_region/frac0.25", "xcat_pair", 0))
                       .read_text())
    assert saved["metric"] == "acc" and saved["fraction"] == 0.25
    assert (tmp / layout.intermediate_dir("cldr_region/frac0.25", 0) / "run.json").is_file()
    # per-example predictions, as the main grid writes them
    preds = tmp / layout.prediction_dir("cldr_region/frac0.25", "xcat_pair", 0)
    assert sorted(f.stem for f in preds.glob("*.json")) == sorted(ev.languages)


def test_volume_cells_load_their_input_before_clearing_outputs(workdir):
    """A broken input checkpoint stops volume_target's training or its evaluation before they
    empty their outputs: the previous checkpoint, metrics and predictions stay as they were."""
    from tests.test_bad_input import _truncate, outputs_now

    tmp, p = workdir
    layout = study_layout("volume")
    key = "cldr_region/frac0.25"
    for stage, args in [("volume_intermediate", ("cldr_region", "0.25", 0)),
                        ("volume_target", ("cldr_region", "0.25", "xcat_pair", 0))]:
        run_stage(p, stage, *args)
    _truncate(layout.target_dir(key, "xcat_pair", 0) / "encoder" / "model.safetensors", 0.5)
    before = outputs_now(tmp)
    assert any(f.startswith("volume/predictions/cldr_region/frac0.25") for f in before)
    with pytest.raises(Exception, match="model.safetensors"):
        cell.run_evaluate(*resolve(p, "volume_target", ["cldr_region", "0.25", "xcat_pair",
                                                        "0"]))
    assert outputs_now(tmp) == before
    _truncate(layout.intermediate_dir(key, 0) / "encoder" / "config.json", 3)
    before = outputs_now(tmp)
    with pytest.raises(Exception):  # noqa: B017  (any load error; the point is what is kept)
        run_stage(p, "volume_target", "cldr_region", "0.25", "xcat_pair", 0)
    assert outputs_now(tmp) == before
