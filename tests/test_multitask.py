"""Multi-task intermediate training (mixtures) on the tiny random encoder: sampling, heads,
dev selection, checkpoint handoff to the target phase, and params validation."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from tests.test_cell import studies_only
from xstilts.core import cell, data, families, paths, prepare_model
from xstilts.core.features import length_grouped_batches
from xstilts.core.modeling import MultiTaskModel, load_encoder, load_task_model
from xstilts.core.params import ParamsError, parse_params
from xstilts.core.train import BatchSchedule
from xstilts.tasks import get_task

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["cldr_region", "cldr_currency", "xcat_pair", "xcat_choice", "xname_retrieval"]


def mixture_params(encoder_dir: Path, tmp: Path, **over) -> dict:
    """Small embedded tasks; mixtures `mix` (a head per task) and `mc` (one shared head)."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["model"].update(source="hub", name=str(encoder_dir), trim_vocab=True)
    raw["tracking"]["uri"] = f"sqlite:///{tmp / 'mlflow.db'}"
    raw["runtime"].update(bf16=False, threads=1, checkpoint_every=None)
    raw["tasks"] = {t: {"source": "embedded", "max_train": 40, "max_eval": 16} for t in TASKS}
    raw["tasks"]["xcat_pair"]["max_train"] = 24
    studies_only(raw, [])
    hp = {"epochs": 2, "max_length": 32, "batch_size": 8, "evals_per_epoch": 2}
    raw["intermediate"] = {
        "tasks": ["none", "cldr_region", "mix", "mc"],
        "hparams": {"none": None, "cldr_region": hp, "mix": hp, "mc": hp},
        "mixtures": {"mix": {"tasks": ["cldr_region", "xcat_pair"], "cap": 16},
                     "mc": {"tasks": ["cldr_currency", "xcat_choice"], "shared_head": True}},
    }
    raw["target"]["tasks"] = ["xcat_pair"]
    raw["target"]["hparams"] = {"xcat_pair": {"epochs": 1, "max_length": 32, "batch_size": 8}}
    raw["evaluate"]["retrieval_tasks"] = ["xname_retrieval"]
    raw.update(over)
    return raw


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_encoder_dir):
    tmp = tmp_path_factory.mktemp("multitask")
    p = parse_params(yaml.safe_dump(mixture_params(tiny_encoder_dir, tmp)))
    mp = pytest.MonkeyPatch()
    mp.chdir(tmp)
    for name, src in p.tasks.items():
        data.prepare_task(name, src, paths.DATA / name)
    prepare_model.prepare_model_stage(p)
    yield tmp, p
    mp.undo()


# --------------------------------------------------------------------------- sampling


def _rows(n: int, width: int = 3) -> list[dict]:
    return [{"input_ids": [0] * (1 + i % width)} for i in range(n)]


def test_proportional_sampling_with_cap_exact_counts():
    """Per mixture epoch a member gets ceil(min(n, cap) / batch_size) batches, in a seeded
    order; a capped member moves on through its rows in the next epoch."""
    rows = [_rows(100), _rows(30), _rows(7)]
    s = BatchSchedule(rows, batch_size=8, seed=0, cap=40)
    assert s.counts == [5, 4, 1] and s.per_epoch == 10
    draws = [s.next() for _ in range(3 * s.per_epoch)]
    for e in range(3):
        assert Counter(m for m, _ in draws[e * 10:(e + 1) * 10]) == {0: 5, 1: 4, 2: 1}
    # exact order for seed 0 (a change of the sampling code shows here)
    assert [m for m, _ in draws[:10]] == s.plan(0)
    assert s.plan(0) == [0, 1, 0, 0, 1, 1, 0, 0, 2, 1]
    # member 0 (100 rows, 13 batches) continues its own order: 15 batches = 13 + 2 of epoch 1
    seen = [b for m, b in draws if m == 0]
    first = length_grouped_batches(rows[0], 8, seed=0)
    second = length_grouped_batches(rows[0], 8, seed=1)
    assert seen == first + second[:2]
    assert s.state() == {"epoch": 2, "index": 10, "streams": [[1, 2], [2, 4], [2, 1]]}
    # deterministic from the seed; another seed, another order
    again = BatchSchedule(rows, batch_size=8, seed=0, cap=40)
    assert [again.next() for _ in range(30)] == draws
    other = BatchSchedule(rows, batch_size=8, seed=1, cap=40)
    assert [m for m, _ in (other.next() for _ in range(10))] != s.plan(0)


def test_no_cap_is_proportional_to_size_and_one_member_is_single_task_order():
    s = BatchSchedule([_rows(64), _rows(16)], batch_size=8, seed=3)
    assert s.counts == [8, 2]
    rows = _rows(45)
    single = BatchSchedule([rows], batch_size=8, seed=2)
    got = [single.next()[1] for _ in range(3 * single.per_epoch)]
    want = [b for e in range(3) for b in length_grouped_batches(rows, 8, seed=2000 + e)]
    assert got == want


def test_schedule_position_round_trips():
    rows = [_rows(50), _rows(20)]
    a = BatchSchedule(rows, 8, seed=5, cap=30)
    for _ in range(7):
        a.next()
    b = BatchSchedule(rows, 8, seed=5, cap=30)
    b.load(json.loads(json.dumps(a.state())))
    assert [a.next() for _ in range(20)] == [b.next() for _ in range(20)]


# --------------------------------------------------------------------------- model


def test_one_head_per_task_or_one_shared_head(tiny_encoder_dir):
    encoder, _ = load_encoder(tiny_encoder_dir)
    region, pair = get_task("cldr_region"), get_task("xcat_pair")
    m = MultiTaskModel(encoder, "mix", [region, pair], "mean", 0.1)
    assert set(m.heads) == {"cldr_region", "xcat_pair"}
    assert m.view("cldr_region").head is m.heads["cldr_region"]
    assert m.view("xcat_pair").encoder is m.encoder
    assert m.heads["cldr_region"].out.out_features == 5
    assert m.heads["xcat_pair"].out.out_features == 2
    cur, choice = get_task("cldr_currency"), get_task("xcat_choice")
    shared = MultiTaskModel(encoder, "mc", [cur, choice], "mean", 0.1, shared_head=True)
    assert list(shared.heads) == ["mc"]
    assert shared.view("cldr_currency").head is shared.view("xcat_choice").head
    assert shared.task_to_head == {"cldr_currency": "mc", "xcat_choice": "mc"}
    n_shared = sum(p.numel() for p in shared.parameters())
    separate = MultiTaskModel(encoder, "mc", [cur, choice], "mean", 0.1)
    assert sum(p.numel() for p in separate.parameters()) > n_shared
    with pytest.raises(ValueError, match="shared head"):
        MultiTaskModel(encoder, "bad", [region, pair], "mean", 0.1, shared_head=True)


# --------------------------------------------------------------------------- phases


@pytest.mark.parametrize("itask", ["mix", "mc"])
def test_mixture_training_selects_on_mean_dev_and_saves_heads(workdir, monkeypatch, itask):
    tmp, p = workdir
    monkeypatch.chdir(tmp)
    res = families.run_stage(p, "intermediate", itask, 0)
    mix = p.mixture(itask)
    ckpt = paths.intermediate_dir(itask, 0)
    hist = res["history"]
    assert len(hist) == 4  # 2 epochs x 2 evaluations
    for point in hist:  # each member's dev score is logged; the selection metric is their mean
        members = [point[f"{t}/acc"] for t in mix.tasks]
        assert point["avg"] == pytest.approx(sum(members) / len(members))
    best = max(hist, key=lambda h: h["avg"])
    assert res["best_dev"] == best["avg"] and res["best_step"] == best["step"]
    assert res["best_dev_per_task"] == {t: best[f"{t}/acc"] for t in mix.tasks}
    meta = json.loads((ckpt / "head.json").read_text())
    heads = ["mc"] if mix.shared_head else mix.tasks
    assert meta["type"] == "mixture" and sorted(meta["heads"]) == sorted(heads)
    assert sorted(f.stem for f in (ckpt / "heads").glob("*.safetensors")) == sorted(heads)
    assert not (ckpt / "head.safetensors").exists()
    # the saved state is the selected one: a member's head scores its best dev again
    from xstilts.core.evaluation import score_split

    hp = p.intermediate_hparams(itask)
    for name in mix.tasks:
        task = get_task(name)
        model, tok = load_task_model(ckpt, task)
        dev = data.load_split(paths.DATA, name, "en", "dev", "select")
        score = score_split(model, task, dev, tok, "en", hp.max_length, hp.stride, 64,
                            torch.device("cpu"), False)
        assert score["acc"] == pytest.approx(res["best_dev_per_task"][name])
    dev = json.loads(paths.dev_file("intermediate", itask, 0).read_text())
    assert dev["metric"] == "avg" and "history" not in dev
    from mlflow.tracking import MlflowClient

    client = MlflowClient(p.tracking.uri)
    exp = client.get_experiment_by_name(p.tracking.experiment)
    runs = client.search_runs([exp.experiment_id], f"tags.itask = '{itask}'")
    keys = set().union(*(r.data.metrics for r in runs))
    assert {"dev/avg", "best_dev/avg", *(f"dev/{t}/acc" for t in mix.tasks)} <= keys


def test_mixture_sampling_counts_in_training(workdir):
    """The mixture `mix` (cldr_region 40 rows, xcat_pair 24 rows, cap 16, batch 8): per epoch
    2 + 2 batches; 2 epochs = 8 steps."""
    _, p = workdir
    rows = [[{"input_ids": [1]}] * n for n in (40, 24)]
    s = BatchSchedule(rows, 8, seed=0, cap=p.mixture("mix").cap)
    assert s.counts == [2, 2]
    draws = [s.next()[0] for _ in range(8)]
    assert Counter(draws) == {0: 4, 1: 4}


def test_target_starts_from_mixture_encoder_with_fresh_head(workdir, monkeypatch):
    tmp, p = workdir
    monkeypatch.chdir(tmp)
    if not paths.intermediate_dir("mix", 0).is_dir():
        families.run_stage(p, "intermediate", "mix", 0)
    seen = {}
    real = cell.train_task

    def spy(model, *a, **k):
        seen["encoder"] = {k: v.clone() for k, v in model.encoder.state_dict().items()}
        seen["head"] = {k: v.clone() for k, v in model.head.state_dict().items()}
        return real(model, *a, **k)

    monkeypatch.setattr(cell, "train_task", spy)
    res = cell.run_target(*families.resolve(p, "target", ["mix", "xcat_pair", "0"]))
    assert math.isfinite(res["best_dev"])
    ckpt = paths.intermediate_dir("mix", 0)
    inter = load_file(str(next((ckpt / "encoder").glob("*.safetensors"))))
    for name, value in seen["encoder"].items():
        key = next(k for k in inter if k.endswith(name))
        assert torch.equal(inter[key], value), name
    # the target head is fresh: not the mixture's xcat_pair head
    member = load_file(str(ckpt / "heads" / "xcat_pair.safetensors"))
    assert any(not torch.equal(member[k], seen["head"][k]) for k in member)
    cell.run_evaluate(*families.resolve(p, "target", ["mix", "xcat_pair", "0"]))
    families.run_stage(p, "retrieve", "mix", "xname_retrieval", 0)


# --------------------------------------------------------------------------- validation


def _raw(**mixtures) -> dict:
    raw = studies_only(yaml.safe_load((ROOT / "params.yaml").read_text()), [])
    raw["intermediate"]["mixtures"] = mixtures
    for name in mixtures:
        raw["intermediate"]["tasks"].append(name)
        raw["intermediate"]["hparams"][name] = {"epochs": 1}
    return raw


def _error(raw: dict) -> str:
    text = yaml.safe_dump(raw, sort_keys=False)
    with pytest.raises(ParamsError) as e:
        parse_params(text)
    return str(e.value)


def test_valid_mixtures_and_anli_plus():
    p = parse_params(yaml.safe_dump(_raw(both={"tasks": ["cldr_region", "cldr_currency"],
                                               "cap": 100})))
    assert p.mixture("both").cap == 100 and not p.mixture("both").shared_head
    assert p.mixture("cldr_region") is None
    raw = _raw(anli_plus={"tasks": ["snli", "mnli", "anli"], "shared_head": True})
    raw["tasks"] |= {t: {"source": "hub"} for t in ("snli", "mnli", "anli")}
    assert parse_params(yaml.safe_dump(raw)).mixture("anli_plus").tasks == ["snli", "mnli", "anli"]


def test_mixture_errors_name_key_and_line(monkeypatch):
    raw = _raw(m={"tasks": ["cldr_region", "mnli"]})
    msg = _error(raw)
    found = re.search(r"params\.yaml:(\d+): intermediate\.mixtures\.m\.tasks: 'mnli' is not "
                      r"declared under `tasks:`", msg)
    assert found, msg
    lines = yaml.safe_dump(raw, sort_keys=False).splitlines()
    n = int(found.group(1))
    assert lines[n - 1].strip() == "tasks:" and lines[n - 2].strip() == "m:"
    raw = _raw(m={"tasks": ["cldr_region", "xname_retrieval"]})
    assert "'xname_retrieval' is a retrieval task" in _error(raw)
    raw = _raw(cldr_currency={"tasks": ["cldr_region", "xcat_pair"]})
    assert "intermediate.mixtures.cldr_currency: the name 'cldr_currency' is a task's name" \
        in _error(raw)
    raw = _raw(m={"tasks": ["cldr_region", "xcat_pair"], "shared_head": True})
    msg = _error(raw)
    assert "intermediate.mixtures.m.shared_head: one head needs one task type and label set" \
        in msg and "cldr_region: classification" in msg
    raw = _raw(a={"tasks": ["cldr_region", "xcat_pair"]}, b={"tasks": ["a", "xcat_pair"]})
    assert "intermediate.mixtures.b.tasks: 'a' is a mixture" in _error(raw)
    raw = _raw(m={"tasks": ["cldr_region"]})
    assert "intermediate.mixtures.m.tasks" in _error(raw)
    raw = _raw(m={"tasks": ["cldr_region", "cldr_region"]})
    assert "repeated task" in _error(raw)
    raw = _raw(m={"tasks": ["cldr_region", "xcat_pair"], "cap": 0})
    assert "intermediate.mixtures.m.cap" in _error(raw)
    raw = _raw(m={"tasks": ["cldr_region", "xcat_pair"]})
    del raw["intermediate"]["hparams"]["m"]
    assert "intermediate.hparams.m: missing hyperparameters" in _error(raw)
    # a member without English train/dev
    from dataclasses import replace

    from xstilts.tasks import REGISTRY

    monkeypatch.setitem(REGISTRY, "xcat_pair",
                        replace(REGISTRY["xcat_pair"], splits={"en": ("test",), "de": ("test",)}))
    raw = _raw(m={"tasks": ["cldr_region", "xcat_pair"]})
    raw["target"]["tasks"].remove("xcat_pair")
    del raw["target"]["hparams"]["xcat_pair"]
    msg = _error(raw)
    assert "intermediate.mixtures.m.tasks: 'xcat_pair' has no English train and dev split" in msg
