"""Study 3 (scaling): the power-law fit on fabricated metric files whose answer is known, the
parameter count, params validation, the DVC stage family, and the stages in-process on tiny
random models (an encoder and a decoder-only LM)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.studies.fabricate import ROOT, params, stage_names, studies_project
from tests.workdir import assert_trained_on_english_then_evaluated, prepared
from xstilts.analysis.studies import scaling
from xstilts.core.families import run_stage
from xstilts.core.params import ParamsError, StudyStats
from xstilts.core.paths import Layout, scaling_model_file, study_layout
from xstilts.core.prepare_model import count_parameters, prepare_scaling_model
from xstilts.core.records import EvalRecord

LANGS = ["en", "de", "es", "ru", "sw"]
# non-embedding parameter counts of fabricated models: two families, four and three sizes
SIZES = {"enc_s": 2e6, "enc_m": 5e6, "enc_l": 2e7, "enc_xl": 8e7,
         "dec_s": 1e6, "dec_m": 1e7, "dec_l": 1e8}
FAMILY = {m: "encoder" if m.startswith("enc") else "decoder" for m in SIZES}
TRUE = {("encoder", "xcat_pair"): (40.0, -0.25), ("encoder", "xcat_qa"): (-0.002, 0.5),
        ("decoder", "xcat_pair"): (0.01, 0.4), ("decoder", "xcat_qa"): (3.0, 0.1)}
# per-language offsets that sum to zero over the non-English languages
OFFSET = {"de": 1.5, "es": -0.5, "ru": 0.25, "sw": -1.25}


def _study(models=None, **kw) -> dict:
    specs = {m: {"source": "hub", "name": f"/models/{m}", "family": FAMILY[m],
                 "pooling": "mean" if FAMILY[m] == "encoder" else "last"} for m in SIZES}
    return {"run": ["scaling"], "scaling": {"models": models or list(SIZES), "specs": specs,
                                            "itasks": ["none", "cldr_region"],
                                            "targets": ["xcat_pair", "xcat_qa"], **kw}}


def _eval_file(m: str, itask: str, target: str, seed: int, root: Path = scaling.METRICS) -> Path:
    return Layout(metrics=root, metrics_key=m).eval_file(itask, target, seed)


def _fabricate(p, root: Path, offsets: dict[str, float] | None = None) -> Path:
    """Model files and eval files: score(none) = 50 (+ a per-language level), score(cldr_region)
    = score(none) + a N^b (+ offset[lang], zero-sum over languages)."""
    for m in p.studies.scaling.models:
        f = scaling_model_file(m, root)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps({"model": m, "family": FAMILY[m], "name": f"/models/{m}",
                                 "source": "hub", "params_non_embedding": int(SIZES[m]),
                                 "params_total": int(SIZES[m]) + 1000, "layers": 2,
                                 "pooling": "mean", "trimmed": False,
                                 "trim_skipped": "only Unigram tokenizers can be trimmed, got "
                                                 "BPE", "pad_is_eos": FAMILY[m] == "decoder"}))
        for target in p.studies.scaling.targets:
            a, b = TRUE[(FAMILY[m], target)]
            metric = "f1" if target == "xcat_qa" else "acc"
            for seed in p.seeds:
                for itask in p.studies.scaling.itasks:
                    gain = 0.0 if itask == "none" else a * SIZES[m] ** b
                    scores = {lang: 50 + 3 * i + gain + (0.0 if itask == "none" or lang == "en"
                                                         else (offsets or {}).get(lang, 0.0))
                              for i, lang in enumerate(LANGS)}
                    EvalRecord.of(itask, target, seed, metric,
                                  {lang: {metric: s, "em": 0.0} for lang, s in scores.items()}
                                  ).write(_eval_file(m, itask, target, seed, root))
    return root


def test_exact_power_law_gives_back_its_coefficients(tmp_path):
    p = params(_study())
    root = _fabricate(p, tmp_path / "scaling")
    res = scaling.analyse(p, tmp_path / "out", root)
    fits = res.metrics["fits"]
    for (fam, target), (a, b) in TRUE.items():
        fit = fits[f"{fam}/cldr_region/{target}"]
        assert fit["a"] == pytest.approx(a, rel=1e-6) and fit["b"] == pytest.approx(b, abs=1e-7)
        assert fit["r2"] == pytest.approx(1.0)
        assert fit["n_sizes"] == (4 if fam == "encoder" else 3)
        assert fit["n_points"] == fit["n_sizes"] * 4  # 4 non-English languages, 1 seed
        # noise-free: every resample refits the same curve, the intervals collapse on the truth
        assert fit["b_ci"][0] == pytest.approx(b, abs=1e-6)
        assert fit["b_ci"][1] == pytest.approx(b, abs=1e-6)
        # log-log cross-check only where every gain is positive (encoder xcat_qa: a < 0)
        assert (fit["loglog"] is None) == (a < 0)
        if a > 0:
            assert fit["loglog"]["b"] == pytest.approx(b, abs=1e-9)
    gains = res.metrics["gains"]["encoder/cldr_region/xcat_pair"]
    assert gains["enc_m"] == pytest.approx(40 * 5e6 ** -0.25)
    avg = res.metrics["gains"]["decoder/cldr_region/avg"]["dec_l"]
    assert avg == pytest.approx(np.mean([0.01 * 1e8 ** 0.4, 3.0 * 1e8 ** 0.1]))
    md = (tmp_path / "out" / "scaling.md").read_text()
    assert "Study 3: scaling across architectures" in md and "**Caveat of scale.**" in md
    assert "encoder: gain of cldr_region over none" in md and "dec_l" in md
    assert "not trimmed" in md and "| eos |" in md
    assert (tmp_path / "out" / "scaling.png").stat().st_size > 0
    rows = (tmp_path / "out" / "scaling.csv").read_text().splitlines()
    assert rows[0].startswith("kind,family,itask,target,model,params")
    assert sum(r.startswith("fit,") for r in rows) == 6 * p.studies.scaling.band_points
    saved = json.loads((tmp_path / "out" / "scaling.json").read_text())
    assert saved["fits"]["decoder/cldr_region/xcat_qa"]["b"] == pytest.approx(0.1, abs=1e-7)


def test_band_contains_the_truth_with_language_noise(tmp_path):
    """Zero-sum per-language offsets: the least-squares fit is still exact; the bootstrap band
    over (language, seed) units has width and contains the true curve at every N."""
    p = params(_study(), seeds=[0, 1])
    root = _fabricate(p, tmp_path / "scaling", OFFSET)
    res = scaling.analyse(p, tmp_path / "out", root)
    for (fam, target), (a, b) in TRUE.items():
        fit = res.metrics["fits"][f"{fam}/cldr_region/{target}"]
        assert fit["a"] == pytest.approx(a, rel=1e-5) and fit["b"] == pytest.approx(b, abs=1e-6)
        assert fit["n_points"] == fit["n_sizes"] * 4 * 2
        assert fit["b_ci"][0] < b < fit["b_ci"][1]
        assert fit["valid_resamples"] == p.studies.stats.bootstrap_resamples
    rows = [r.split(",") for r in (tmp_path / "out" / "scaling.csv").read_text().splitlines()]
    band = [r for r in rows if r[0] == "fit"]
    assert band
    for _, fam, _, target, _, n, _, _, _, lo, hi in band:
        a, b = TRUE[(fam, target)] if target != "avg" else (None, None)
        if a is None:
            continue
        truth = a * float(n) ** b
        assert float(lo) - 1e-6 <= truth <= float(hi) + 1e-6
        assert float(hi) > float(lo)


def test_fit_function_directly():
    st = StudyStats(bootstrap_resamples=200)
    n = np.array([1e6, 1e6, 4e6, 4e6, 3e7, 3e7])
    g = -2.0 * n ** 0.3
    fit = scaling.fit_power_law(n, g, [("de", 0), ("es", 0)] * 3, st)
    assert fit.a == pytest.approx(-2.0, rel=1e-6) and fit.b == pytest.approx(0.3, abs=1e-8)
    assert fit.loglog is None  # negative gains: no log-space fit
    one = scaling.fit_power_law([1e6, 1e6], [1.0, 2.0], ["a", "b"], st)
    assert np.isnan(one.b) and one.n_sizes == 1
    with pytest.raises(ValueError, match="positive"):
        scaling.fit_power_law([0.0, 1.0], [1.0, 1.0], ["a", "b"], st)
    # the exponent stays inside its bounds
    steep = scaling.fit_power_law(n, n ** 2.0, ["x", "y"] * 3, st, bounds=(-1.0, 1.0))
    assert steep.b == pytest.approx(1.0)


def test_no_models_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="scaling.models is empty"):
        scaling.analyse(params(), tmp_path / "out", tmp_path)


def test_missing_eval_file_is_an_error(tmp_path):
    p = params(_study())
    root = _fabricate(p, tmp_path / "scaling")
    _eval_file("dec_m", "none", "xcat_qa", 0, root).unlink()
    with pytest.raises(FileNotFoundError, match="dec_m/none/xcat_qa"):
        scaling.analyse(p, tmp_path / "out", root)


def test_parameter_count_excludes_embeddings():
    from torch import nn

    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(100, 8)
            self.pos = nn.Embedding(16, 8)
            self.lin = nn.Linear(8, 8)
            self.out = nn.Linear(8, 100, bias=False)
            self.out.weight = self.tok.weight  # tied: counted once

    c = count_parameters(Toy())
    assert c == {"params_total": 800 + 128 + 72, "params_embedding": 928,
                 "params_non_embedding": 72}


def test_switch_validation():
    with pytest.raises(ParamsError, match="scaling.models must be"):
        params({"scaling": _study()["scaling"]})
    with pytest.raises(ParamsError, match="give scaling.models"):
        params({"run": ["scaling"]})
    with pytest.raises(ParamsError, match="not a key of specs"):
        params(_study(models=["enc_s", "enc_huge"]))
    with pytest.raises(ParamsError, match="must contain 'none'"):
        params(_study(itasks=["cldr_region"]))
    with pytest.raises(ParamsError, match="besides 'none'"):
        params(_study(itasks=["none"]))
    with pytest.raises(ParamsError, match="studies.scaling.targets: 'xcat_tagx' is not in"):
        params(_study(targets=["xcat_tagx"]))
    with pytest.raises(ParamsError, match="studies.scaling.itasks: 'cldr_qa' is not in"):
        params(_study(itasks=["none", "cldr_qa"]))
    with pytest.raises(ParamsError, match="exponent_bounds"):
        params(_study(exponent_bounds=[1.0, -1.0]))
    bad = _study()
    bad["scaling"]["specs"]["dec_s"]["pooling"] = "cls"
    with pytest.raises(ParamsError, match="decoder-only"):
        params(bad)
    bad = _study()
    bad["scaling"]["specs"]["enc_s"]["colour"] = "red"
    with pytest.raises(ParamsError, match="unknown key"):
        params(bad)
    bad = _study()
    bad["scaling"]["specs"]["enc-s"] = bad["scaling"]["specs"].pop("enc_s")
    with pytest.raises(ParamsError, match="letters, digits and _"):
        params(bad)
    assert params(_study()).studies.scaling.specs["dec_l"].pooling == "last"


# ---------------------------------------------------------------- DVC stages


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_switch_adds_and_removes_the_scaling_stages(tmp_path):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    sc = raw["studies"]["scaling"]
    models = list(sc["specs"])
    on = stage_names(studies_project(tmp_path / "on", {
        "run": ["complexity", "scaling"], "scaling": {**sc, "models": models}}))
    n_i, n_t = len(sc["itasks"]), len(sc["targets"])
    count = {f: sum(s.startswith(f"scaling_{f}@") for s in on)
             for f in ("model", "intermediate", "target", "evaluate")}
    assert count == {"model": len(models), "intermediate": len(models) * n_i,
                     "target": len(models) * n_i * n_t, "evaluate": 0}  # target evaluates
    assert f"scaling_target@{models[0]}-none-{sc['targets'][0]}-0" in on
    assert "study@scaling" in on
    off = stage_names(studies_project(tmp_path / "off", {"run": ["complexity"]}))  # study off
    assert not [s for s in off if s.startswith("scaling_") or s == "study@scaling"]


# ---------------------------------------------------------------- stages in-process


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_encoder_dir):
    """Prepared data, a tiny random encoder and a tiny random Llama decoder (BPE tokenizer
    without pad token) as scaling models, in a temporary working directory."""
    from tests.test_decoder_models import make_decoder

    tmp = tmp_path_factory.mktemp("scaling")
    dec_dir = make_decoder(tmp / "tiny-llama", "llama")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["tracking"]["uri"] = f"sqlite:///{tmp / 'mlflow.db'}"
    raw["runtime"]["bf16"] = False
    raw["runtime"]["checkpoint_every"] = None
    raw["runtime"]["feature_cache"] = str(tmp / "features")  # absolute: not left in the repo
    raw["intermediate"]["tasks"] = ["none", "cldr_region"]
    raw["intermediate"]["hparams"] = {"none": None, "cldr_region": {"epochs": 1, "max_length": 32}}
    raw["target"]["tasks"] = ["xcat_qa"]
    raw["target"]["hparams"] = {"xcat_qa": {"epochs": 1, "max_length": 96, "doc_stride": 32,
                                            "batch_size": 16}}
    raw["tasks"] = {t: {"source": "embedded", "max_train": 24, "max_eval": 6,
                        **({"languages": ["en", "de", "sw"]} if t == "xcat_qa" else {})}
                    for t in ["cldr_region", "xcat_qa"]}
    raw["evaluate"]["retrieval_tasks"] = []
    raw["studies"] = {"run": ["scaling"], "stats": {"bootstrap_resamples": 200}, "scaling": {
        "models": ["enc", "dec"], "itasks": ["none", "cldr_region"], "targets": ["xcat_qa"],
        "specs": {"enc": {"source": "hub", "name": str(tiny_encoder_dir)},
                  "dec": {"source": "hub", "name": str(dec_dir), "family": "decoder",
                          "pooling": "last"}}}}
    with prepared(tmp, raw, base_model=False) as (p, _):
        yield tmp, p


def test_scaling_stages_run_for_an_encoder_and_a_decoder(workdir):
    from xstilts.core import data

    tmp, p = workdir
    enc = prepare_scaling_model(p, "enc")
    dec = prepare_scaling_model(p, "dec")
    assert enc["trimmed"] and enc["vocab_after"] < enc["vocab_before"]
    assert not dec["trimmed"] and "Unigram" in dec["trim_skipped"]
    assert dec["pad_is_eos"] and dec["padding_side"] == "right"
    assert dec["architecture"] == "LlamaModel" and dec["family"] == "decoder"
    assert enc["params_non_embedding"] < enc["params_total"]
    assert json.loads((tmp / scaling_model_file("dec")).read_text())["pooling"] == "last"
    for m in ("enc", "dec"):
        for itask in ("none", "cldr_region"):
            data.READ_LOG.clear()
            run_stage(p, "scaling_intermediate", m, itask, 0)
            ev = run_stage(p, "scaling_target", m, itask, "xcat_qa", 0)  # trains, evaluates
            assert_trained_on_english_then_evaluated(data.READ_LOG)  # zero-shot rule
            assert set(ev.languages) == {"en", "de", "sw"} and ev.metric == "f1"
            preds = tmp / study_layout("scaling", m).prediction_dir(itask, "xcat_qa", 0)
            assert sorted(f.stem for f in preds.glob("*.json")) == sorted(ev.languages)
    saved = json.loads((tmp / _eval_file("dec", "cldr_region", "xcat_qa", 0)).read_text())
    assert saved["family"] == "decoder" and saved["params_non_embedding"] == \
        dec["params_non_embedding"]
    assert (tmp / study_layout("scaling", "dec").dev_file("target", "cldr_region", 0, "xcat_qa")
            ).is_file()
    assert (tmp / "metrics/scaling/dev/target/dec/cldr_region/xcat_qa/seed0.json").is_file()
    res = scaling.analyse(p, tmp / "reports", scaling.METRICS)
    assert set(res.metrics["models"]) == {"enc", "dec"}
    # one size per family: no power law, said so in the report
    assert res.metrics["fits"]["decoder/cldr_region/xcat_qa"]["n_sizes"] == 1
    assert "no fit (1 model size(s)" in (tmp / "reports" / "scaling.md").read_text()


def _files(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


def test_a_shallower_copy_of_the_base_model_is_cut_from_models_base(tmp_path, xlmr_tokenizer,
                                                                   caplog):
    """A scaling spec that is the main base model with fewer layers is cut from models/base:
    the same files, byte for byte, as converting and trimming it again, and the same record."""
    import torch
    from transformers import BertConfig, BertModel

    from xstilts.core import paths
    from xstilts.core.prepare_model import BASE_RECORD, derivable_from_base

    torch.manual_seed(0)  # with its pooler: AutoModel would add a random one to each copy
    hub = tmp_path / "hub-encoder"
    BertModel(BertConfig(vocab_size=len(xlmr_tokenizer), hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=2, intermediate_size=64,
                         max_position_embeddings=514, pad_token_id=1)).save_pretrained(hub)
    xlmr_tokenizer.save_pretrained(hub)
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["tracking"]["uri"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    raw["model"] = {"source": "hub", "name": str(hub)}
    raw["tasks"] = {t: {"source": "embedded", "max_train": 24, "max_eval": 6}
                    for t in ("cldr_region", "xcat_pair")}
    raw["intermediate"] = {"tasks": ["none", "cldr_region"],
                           "hparams": {"none": None, "cldr_region": {}}}
    raw["target"] = {"tasks": ["xcat_pair"], "hparams": {"xcat_pair": {}}}
    raw["evaluate"]["retrieval_tasks"] = []
    spec = {"source": "hub", "name": str(hub), "num_layers": 1, "pooling": "cls"}
    raw["studies"] = {"run": ["scaling"], "scaling": {
        "models": ["cut", "same"], "itasks": ["none", "cldr_region"], "targets": ["xcat_pair"],
        "specs": {"cut": spec, "same": {**spec, "num_layers": None}}}}
    with prepared(tmp_path, raw) as (p, stats):
        assert json.loads(BASE_RECORD.read_text()) == stats
        assert derivable_from_base(p.model, p.studies.scaling.specs["cut"])
        out = study_layout("scaling", "cut").models / "base"
        converted_rec = prepare_scaling_model(p, "cut", reuse_base=False)
        converted = _files(out)
        shutil.rmtree(out)
        caplog.clear()
        with caplog.at_level("INFO", logger="xstilts.core.prepare_model"):
            cut_rec = prepare_scaling_model(p, "cut")
        assert "models/base cut to 1 layers" in caplog.text  # not converted again
        assert _files(out) == converted
        assert cut_rec == converted_rec and cut_rec["layers"] == 1
        assert stats["vocab_after"] == cut_rec["vocab_after"] < cut_rec["vocab_before"]
        same = prepare_scaling_model(p, "same")
        assert same["layers"] == 2 and same["num_layers"] is None
        assert _files(study_layout("scaling", "same").models / "base") == _files(paths.BASE)


def test_only_the_same_checkpoint_with_no_more_layers_is_cut_from_the_base():
    from xstilts.core.params import ModelParams
    from xstilts.core.prepare_model import derivable_from_base

    base = ModelParams()
    assert derivable_from_base(base, ModelParams(num_layers=4, pooling="cls"))
    assert derivable_from_base(base, ModelParams())
    assert not derivable_from_base(base, ModelParams(num_layers=4, trim_vocab=False))
    assert not derivable_from_base(base, ModelParams(source="hub", num_layers=4))
    assert not derivable_from_base(base, ModelParams(revision="abc", num_layers=4))
    short = ModelParams(num_layers=4)
    assert derivable_from_base(short, ModelParams(num_layers=2))
    assert derivable_from_base(short, ModelParams(num_layers=4))
    assert not derivable_from_base(short, ModelParams(num_layers=8))
    assert not derivable_from_base(short, ModelParams())  # all 12 layers: more than models/base


def test_cutting_needs_the_prepared_base_model(tmp_path):
    from xstilts.core.prepare_model import derive_from_base

    with pytest.raises(FileNotFoundError, match="run the prepare_model stage"):
        derive_from_base(tmp_path / "out", 2, base=tmp_path / "base",
                         record=tmp_path / "model.json")
