"""The phases in-process on a tiny random encoder: zero-shot guard, checkpoint handoff, report."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
import torch
import yaml
from safetensors.torch import load_file

from tests.workdir import assert_trained_on_english_then_evaluated, prepared
from xstilts.core import cell, data, families, paths

ROOT = Path(__file__).resolve().parents[1]


def studies_only(raw: dict, run: list[str]) -> dict:
    """`raw` (params as a dict) with exactly the studies `run` switched on: the stage families
    of the others emptied, as params validation requires (the repository runs all five)."""
    st = raw["studies"]
    st["run"] = list(run)
    if "volume" not in run:
        st["volume"]["itasks"] = []
    if "multilingual" not in run:
        st["multilingual"]["variants"] = {}
    if "scaling" not in run:
        st["scaling"]["models"] = []
    return raw


def small_params(encoder_dir: Path, tmp: Path, **over) -> dict:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["model"].update(source="hub", name=str(encoder_dir), trim_vocab=True)
    raw["tracking"]["uri"] = f"sqlite:///{tmp / 'mlflow.db'}"
    raw["runtime"]["bf16"] = False
    raw["intermediate"]["tasks"] = ["none", "cldr_region"]
    raw["intermediate"]["hparams"] = {"none": None, "cldr_region": {"epochs": 1, "max_length": 32}}
    raw["target"]["tasks"] = ["xcat_pair", "xcat_tag"]
    raw["target"]["hparams"] = {t: {"epochs": 1, "max_length": 48, "batch_size": 16}
                                for t in raw["target"]["tasks"]}
    raw["tasks"] = {t: {"source": "embedded", "max_train": 48, "max_eval": 16}
                    for t in ["cldr_region", "xcat_pair", "xcat_tag", "xname_retrieval"]}
    studies_only(raw, ["complexity", "typology"])
    raw.update(over)
    return raw


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_encoder_dir):
    """A prepared data folder + trimmed base model in a temporary working directory."""
    tmp = tmp_path_factory.mktemp("phases")
    with prepared(tmp, small_params(tiny_encoder_dir, tmp)) as (p, stats):
        yield tmp, p, stats


def test_vocab_trimmed(workdir):
    _, _, stats = workdir
    assert stats["vocab_after"] < stats["vocab_before"] / 10


def test_training_reads_only_english(workdir, monkeypatch):
    """Every split read by intermediate and target training is English."""
    tmp, p, _ = workdir
    monkeypatch.chdir(tmp)
    read: list[str] = []
    real = datasets.load_from_disk

    def spy(path, *a, **k):
        read.append(str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(data, "load_from_disk", spy)
    families.run_stage(p, "intermediate", "cldr_region", 0)
    families.run_stage(p, "intermediate", "none", 0)
    cell.run_target(*families.resolve(p, "target", ["cldr_region", "xcat_pair", "0"]))
    assert read, "the spy saw no reads"
    langs = {Path(r).parent.name for r in read}
    assert langs == {"en"}, read
    # the target stage itself: trains on English, then evaluates every language
    data.READ_LOG.clear()
    families.run_stage(p, "target", "cldr_region", "xcat_pair", 0)
    assert_trained_on_english_then_evaluated(data.READ_LOG)
    with pytest.raises(data.ZeroShotViolation):
        data.load_split(paths.DATA, "xcat_pair", "de", "dev", "select")


def test_target_starts_from_intermediate_encoder_with_fresh_head(workdir, monkeypatch):
    tmp, p, _ = workdir
    monkeypatch.chdir(tmp)
    if not paths.intermediate_dir("cldr_region", 0).is_dir():
        families.run_stage(p, "intermediate", "cldr_region", 0)
    seen = {}

    def fake_train(model, *a, **k):
        seen["encoder"] = {k: v.clone() for k, v in model.encoder.state_dict().items()}
        seen["head"] = {k: v.clone() for k, v in model.head.state_dict().items()}
        return _NoTrain()

    monkeypatch.setattr(cell, "train_task", fake_train)
    families.run_stage(p, "target", "cldr_region", "xcat_tag", 0)
    ckpt = paths.intermediate_dir("cldr_region", 0)
    inter = load_file(str(next((ckpt / "encoder").glob("*.safetensors"))))
    base = load_file(str(next((paths.BASE).glob("*.safetensors"))))
    changed = 0
    for name, value in seen["encoder"].items():
        key = next(k for k in inter if k.endswith(name))
        assert torch.equal(inter[key], value), name
        changed += not torch.equal(base[key], value)
    assert changed > 0, "intermediate encoder equals the base: intermediate training did nothing"
    inter_head = load_file(str(ckpt / "head.safetensors"))
    # the target head has a different shape or different values from the intermediate head
    assert set(seen["head"]) != set(inter_head) or any(
        seen["head"][k].shape != inter_head[k].shape or not torch.equal(seen["head"][k],
                                                                         inter_head[k])
        for k in inter_head)
    # ... and it is the fresh initialisation for this seed
    from xstilts.core.modeling import TaskModel
    from xstilts.core.train import set_seed
    from xstilts.tasks import get_task

    encoder = _enc(ckpt)
    set_seed(0)

    fresh = TaskModel(encoder, get_task("xcat_tag"), "cls", 0.1)
    for k, v in fresh.head.state_dict().items():
        assert torch.equal(v, seen["head"][k])


def _enc(ckpt):
    from xstilts.core.modeling import load_encoder

    return load_encoder(ckpt)[0]


class _NoTrain:
    best_score = 0.0
    best_step = 0
    steps = 0
    history: list = []


def test_evaluate_retrieval_and_report(workdir, monkeypatch):
    tmp, p, _ = workdir
    monkeypatch.chdir(tmp)
    for itask in p.intermediate.tasks:
        if not paths.intermediate_dir(itask, 0).is_dir():
            families.run_stage(p, "intermediate", itask, 0)
        for target in p.target.tasks:
            res = families.run_stage(p, "target", itask, target, 0)  # trains, then evaluates
            assert set(res.languages) >= {"de", "ru", "zh"}
        families.run_stage(p, "retrieve", itask, "xname_retrieval", 0)
    res = json.loads(paths.eval_file("none", "xcat_tag", 0).read_text())
    for lang, scores in res["languages"].items():
        assert 0.0 <= scores["f1"] <= 100.0, lang
    # per-example prediction files reproduce the metrics (tagging: corpus F1 from entity counts)
    from xstilts.core import stats
    from xstilts.core.predictions import example_stats, prediction_file, read_predictions

    for itask in p.intermediate.tasks:
        for target in [*p.target.tasks, "xname_retrieval"]:
            res = json.loads(paths.eval_file(itask, target, 0).read_text())
            for lang, scores in res["languages"].items():
                rec = read_predictions(prediction_file(itask, target, 0, lang))
                assert list(rec["predictions"]) == rec["ids"]
                for metric, value in scores.items():
                    arr, kind = example_stats(rec, metric)
                    assert stats.score(arr, kind) == pytest.approx(value), (target, lang)
    rec = read_predictions(prediction_file("none", "xname_retrieval", 0, "de"))
    assert all(0 <= j < len(rec["ids"]) for j in rec["predictions"].values())
    from xstilts.analysis.report import write_report

    table = write_report(p, tmp / "reports")
    text = (tmp / "reports" / "results.md").read_text()
    assert "| cldr_region |" in text and "xname_retrieval" in text
    assert (tmp / "reports" / "gain_heatmap.png").stat().st_size > 1000
    assert set(table) == {"none", "cldr_region"}
    from mlflow.tracking import MlflowClient

    client = MlflowClient(p.tracking.uri)
    exp = client.get_experiment_by_name(p.tracking.experiment)
    runs = client.search_runs([exp.experiment_id], "tags.phase = 'target'")
    assert runs and all("mlflow.parentRunId" in r.data.tags for r in runs)
    keys = set().union(*(r.data.metrics for r in runs))
    assert "xcat_pair/acc/de" in keys and "xcat_tag/f1/zh" in keys
