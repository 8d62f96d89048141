"""DDP training (xstilts.core.distributed): the intermediate stage run as 2 CPU processes (gloo,
started by the stage itself under torch.distributed.run) gives the dev curve, losses and
weights of the 1-process run within float tolerance, and only rank 0 writes outputs and MLflow
runs; params validation and launcher commands (no launch)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from xstilts.core import data, distributed, launch, paths, prepare_model
from xstilts.core import stage as cli
from xstilts.core.params import ParamsError, RuntimeParams, parse_params

from .test_multitask import mixture_params

# Without dropout the two runs differ only in float summation order (the 2-process gradient
# is the mean of two half-batch gradients): losses, dev metrics and weights agree closely.
LOSS_RTOL = 1e-4
METRIC_ATOL = 1e-6
WEIGHT_ATOL = 1e-4

DRIVER = '''
import os, signal, sys
from xstilts.core import train
from xstilts.core.stage import stage_setup
from xstilts.core.families import run_stage

after = int(os.environ.get("KILL_AFTER_STEPS", "0"))
if after and os.environ.get("RANK") == "0":  # SIGKILL rank 0 after optimiser step `after`
    real_progress = train.progress

    def progress(*a, **k):
        bar = real_progress(*a, **k)
        update, done = bar.update, [0]

        def counted(n=1):
            update(n)
            done[0] += n
            if done[0] >= after:
                os.kill(os.getpid(), signal.SIGKILL)

        bar.update = counted
        return bar

    train.progress = progress
kind = os.environ.get("STAGE_KIND", "intermediate")  # a training stage of any family
p = stage_setup(f"{kind}@ddp-test", os.environ["XSTILTS_TEST_PARAMS"])
for args in sys.argv[1:]:  # e.g. cldr_region, or cldr_region:0.5 for volume_intermediate
    run_stage(p, kind, *args.split(":"), 0)
'''
ITASKS = ["cldr_region", "mix"]  # a single task and a 2-member mixture (a head per member)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, xlmr_tokenizer):
    """A tiny encoder without dropout, 2 prepared tasks, base model, the driver script."""
    from transformers import BertConfig, BertModel

    tmp = tmp_path_factory.mktemp("ddp")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(xlmr_tokenizer), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=514, pad_token_id=1,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    enc = tmp / "encoder"
    BertModel(config, add_pooling_layer=False).save_pretrained(enc, safe_serialization=True)
    xlmr_tokenizer.save_pretrained(enc)
    raw = mixture_params(enc, tmp)
    raw["tasks"] = {"cldr_region": {"source": "embedded", "max_train": 36, "max_eval": 16},
                    "xcat_pair": {"source": "embedded", "max_train": 24, "max_eval": 16}}
    # batch 7: uneven shards (4 + 3 rows) and a 1-row batch (36 = 5 * 7 + 1: rank 1 idle)
    hp = {"epochs": 2, "max_length": 32, "batch_size": 7, "evals_per_epoch": 2,
          "dropout": 0.0, "lr": 2e-3}
    raw["intermediate"] = {"tasks": ["none", *ITASKS], "hparams": {"none": None,
                                                                  "cldr_region": hp, "mix": hp},
                           "mixtures": {"mix": {"tasks": ["cldr_region", "xcat_pair"],
                                                "cap": 16}}}
    raw["runtime"] |= {"device": "cpu", "checkpoint_every": 3}
    raw["studies"]["run"] = ["volume"]  # a study family trains on 2 processes too
    raw["studies"]["volume"] = {"itasks": ["cldr_region"], "targets": ["xcat_pair"],
                                "fractions": [0.5]}
    raw["evaluate"]["retrieval_tasks"] = []
    for n, name in ((1, "params1.yaml"), (2, "params2.yaml")):
        raw["runtime"]["num_processes"] = n
        (tmp / name).write_text(yaml.safe_dump(raw, sort_keys=False))
    (tmp / "driver.py").write_text(DRIVER)
    p = parse_params((tmp / "params1.yaml").read_text())
    mp = pytest.MonkeyPatch()
    mp.chdir(tmp)
    for name, src in p.tasks.items():
        data.prepare_task(name, src, paths.DATA / name)
    prepare_model.prepare_model_stage(p)
    yield tmp
    mp.undo()


def _run(tmp: Path, params: str, itasks: list[str] = ITASKS,
         **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "XSTILTS_TEST_PARAMS": params, **env}
    env.pop("WORLD_SIZE", None)
    return subprocess.run([sys.executable, "driver.py", *itasks], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=600)


def _hashes(out: Path) -> dict:
    train = json.loads((out / "train.json").read_text())
    return {"history": train["history"], "best_step": train["best_step"],
            **{str(f.relative_to(out)): hashlib.sha256(f.read_bytes()).hexdigest()
               for f in sorted(out.rglob("*.safetensors"))}}


def _mlflow_runs(tmp: Path) -> list[str]:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp / 'mlflow.db'}")
    exp = client.get_experiment_by_name("xstilts")
    return [r.data.tags.get("mlflow.runName") for r in client.search_runs([exp.experiment_id])]


def test_two_gloo_processes_match_one_process(workdir):
    tmp = workdir
    one = _run(tmp, "params1.yaml")
    assert one.returncode == 0, one.stderr[-3000:]
    assert "rank 0]" not in one.stderr  # not launched: the single-process loop
    runs_one = _mlflow_runs(tmp)
    ref = {}
    for itask in ITASKS:
        out = tmp / paths.intermediate_dir(itask, 0)
        ref[itask] = tmp / f"ref-{itask}"
        shutil.copytree(out, ref[itask])
        shutil.rmtree(out)

    two = _run(tmp, "params2.yaml")
    assert two.returncode == 0, two.stderr[-3000:]
    # both ranks ran (the stage started itself under the launcher); rank 1 logs only warnings
    assert "-m torch.distributed.run --standalone --nproc_per_node 2 driver.py" in two.stderr
    assert "[intermediate@ddp-test rank 0]" in two.stderr
    assert "[intermediate@ddp-test rank 1]" not in two.stderr
    # one process wrote: one MLflow run per stage (not two), the same files as 1 process
    runs_two = _mlflow_runs(tmp)
    assert sorted(runs_two) == sorted(runs_one * 2), (runs_one, runs_two)
    report = {}
    for itask in ITASKS:
        out = tmp / paths.intermediate_dir(itask, 0)
        files = sorted(str(f.relative_to(out)) for f in out.rglob("*"))
        assert files == sorted(str(f.relative_to(ref[itask])) for f in ref[itask].rglob("*"))
        a = json.loads((ref[itask] / "train.json").read_text())
        b = json.loads((out / "train.json").read_text())
        assert a["steps"] == b["steps"] and len(a["history"]) == len(b["history"]) > 2
        assert a["best_step"] == b["best_step"]
        diffs = {"loss": 0.0, "metric": 0.0, "weight": 0.0}
        for pa, pb in zip(a["history"], b["history"], strict=True):
            assert pa.keys() == pb.keys() and pa["step"] == pb["step"]
            for k in pa:
                if k.startswith("loss"):
                    diffs["loss"] = max(diffs["loss"], abs(pa[k] - pb[k]) / abs(pa[k]))
                elif k not in ("step", "epoch"):
                    diffs["metric"] = max(diffs["metric"], abs(pa[k] - pb[k]))
        for f in sorted(ref[itask].rglob("*.safetensors")):
            wa, wb = load_file(f), load_file(out / f.relative_to(ref[itask]))
            for k in wa:
                diffs["weight"] = max(diffs["weight"], (wa[k] - wb[k]).abs().max().item())
        report[itask] = diffs
        assert diffs["loss"] <= LOSS_RTOL, (itask, diffs)
        assert diffs["metric"] <= METRIC_ATOL, (itask, diffs)
        assert diffs["weight"] <= WEIGHT_ATOL, (itask, diffs)
        assert diffs["weight"] > 0 or diffs["loss"] > 0  # really another computation
    print("1 vs 2 processes, max differences:", json.dumps(report))
    shutil.copytree(tmp / paths.intermediate_dir("cldr_region", 0), tmp / "ddp-cldr_region")
    # the resume states were written by rank 0 and removed at the end of the stage
    assert not (tmp / ".xstilts" / "resume" / "intermediate" / "cldr_region").exists()


def test_study_family_trains_on_two_processes_like_one(workdir):
    """volume_intermediate (a study family) is relaunched on 2 processes, runs the same cell
    code on both ranks, and matches its 1-process result within summation-order noise."""
    tmp = workdir
    env = {"STAGE_KIND": "volume_intermediate"}
    out = tmp / "models/volume/intermediate/cldr_region/frac0.5/seed0"
    one = _run(tmp, "params1.yaml", ["cldr_region:0.5"], **env)
    assert one.returncode == 0, one.stderr[-3000:]
    ref = tmp / "ref-volume"
    shutil.copytree(out, ref)
    two = _run(tmp, "params2.yaml", ["cldr_region:0.5"], **env)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "--nproc_per_node 2 driver.py" in two.stderr
    assert "[volume_intermediate@ddp-test rank 0]" in two.stderr
    a = json.loads((ref / "train.json").read_text())
    b = json.loads((out / "train.json").read_text())
    assert a["train_examples"] == b["train_examples"] == 18  # the nested half of 36 rows
    assert a["best_step"] == b["best_step"] and len(a["history"]) == len(b["history"]) > 2
    for pa, pb in zip(a["history"], b["history"], strict=True):
        for k in pa:
            if k.startswith("loss"):
                assert abs(pa[k] - pb[k]) <= LOSS_RTOL * abs(pa[k]), (k, pa, pb)
    weight = 0.0
    for f in sorted(ref.rglob("*.safetensors")):
        wa, wb = load_file(f), load_file(out / f.relative_to(ref))
        weight = max(weight, *((wa[k] - wb[k]).abs().max().item() for k in wa))
    assert 0 < weight <= WEIGHT_ATOL


def test_killed_ddp_run_resumes_exactly(workdir):
    """Rank 0 SIGKILLed mid-run (the launcher stops rank 1); the rerun resumes from rank 0's
    state (sent to every rank) and ends with the uninterrupted 2-process result, bit for bit."""
    tmp = workdir
    out, ref = tmp / paths.intermediate_dir("cldr_region", 0), tmp / "ddp-cldr_region"
    if not ref.exists():  # test_two_gloo_processes_match_one_process did not run first
        done = _run(tmp, "params2.yaml", ["cldr_region"])
        assert done.returncode == 0, done.stderr[-3000:]
        shutil.copytree(out, ref)
    cell = tmp / ".xstilts" / "resume" / "intermediate" / "cldr_region" / "seed0"
    killed = _run(tmp, "params2.yaml", ["cldr_region"], KILL_AFTER_STEPS="7")
    assert killed.returncode != 0
    assert sorted(cell.glob("*/ckpt-*")), "rank 0 wrote no resume state before the kill"
    done = _run(tmp, "params2.yaml", ["cldr_region"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resume: continuing from" in done.stderr
    assert json.loads((out / "train.json").read_text())["resumed_from_step"] == 6
    assert _hashes(out) == _hashes(ref)
    assert not cell.exists()


# --------------------------------------------------------------------------- no launch


def test_runtime_params_validation():
    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    rt = raw["runtime"]
    assert parse_params(yaml.safe_dump(raw)).runtime.num_processes == rt["num_processes"]
    for bad, key in [({"num_processes": 0}, "runtime.num_processes"),
                     ({"num_processes": "two"}, "runtime.num_processes"),
                     ({"accelerate_config": ""}, "runtime.accelerate_config"),
                     ({"num_process": 2}, "runtime.num_process")]:
        raw["runtime"] = {**rt, **bad}
        with pytest.raises(ParamsError) as e:
            parse_params(yaml.safe_dump(raw))
        assert key in str(e.value), (bad, str(e.value))


def test_launch_commands():
    py = sys.executable
    cmd = launch.launch_command(RuntimeParams(num_processes=4), [
        "pipeline/cell.py", "target", "none", "xcat_pair", "0"])
    assert cmd == [py, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "4",
                   "pipeline/cell.py", "target", "none", "xcat_pair", "0"]
    rt = RuntimeParams(accelerate_config="~/acc.yaml", device="cuda")
    assert launch.launch_command(rt, ["s.py", "a"]) == [
        py, "-m", "accelerate.commands.launch", "--config_file",
        str(Path.home() / "acc.yaml"), "s.py", "a"]
    rt = RuntimeParams(accelerate_config="/c.yaml", num_processes=8, device="cpu")
    assert launch.launch_command(rt, ["s.py"]) == [
        py, "-m", "accelerate.commands.launch", "--config_file", "/c.yaml",
        "--num_processes", "8", "s.py"]
    assert not launch.wants_launch(RuntimeParams())
    assert launch.wants_launch(RuntimeParams(num_processes=2))


def _params_file(tmp: Path, **runtime) -> str:
    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    raw["runtime"] |= runtime
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_stage_setup_relaunches_training_stages_only(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "execv", lambda exe, cmd: calls.append(cmd))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(sys, "argv", ["pipeline/cell.py", "intermediate", "cldr_region", "0"])
    params = _params_file(tmp_path, num_processes=2)
    cli.stage_setup("intermediate@cldr_region-0", params)
    assert calls == [[sys.executable, "-m", "torch.distributed.run", "--standalone",
                      "--nproc_per_node", "2", "pipeline/cell.py", "intermediate", "cldr_region",
                      "0"]]
    cli.stage_setup("retrieve@none-xname_retrieval-0", params)  # not a training stage: one process
    assert len(calls) == 1
    cli.stage_setup("intermediate@cldr_region-0", _params_file(tmp_path))  # num_processes 1
    assert len(calls) == 1
    # a missing accelerate config: exit 2 naming the field, nothing launched
    with pytest.raises(SystemExit) as e:
        cli.stage_setup("target@none-xcat_pair-0",
                        _params_file(tmp_path, accelerate_config=str(tmp_path / "no.yaml")))
    assert e.value.code == 2 and len(calls) == 1
    # launched by hand for a stage that does not support several processes: exit 2
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(SystemExit) as e:
        cli.stage_setup("retrieve@none-xname_retrieval-0", _params_file(tmp_path))
    assert e.value.code == 2


def test_shard_rows_and_weights(monkeypatch):
    """Rank r gets idx[r::world]; weights make the averaged gradient the global batch mean."""
    monkeypatch.setattr(distributed, "world", lambda: 2)
    parts = {}
    for r in (0, 1):
        monkeypatch.setattr(distributed, "rank", lambda r=r: r)
        parts[r] = distributed.shard([10, 11, 12, 13, 14, 15, 16])
    assert parts[0][0] == [10, 12, 14, 16] and parts[1][0] == [11, 13, 15]
    assert sum(w for _, w in parts.values()) / 2 == pytest.approx(1)  # DDP divides by world
    assert parts[0][1] == pytest.approx(8 / 7) and parts[1][1] == pytest.approx(6 / 7)
    assert distributed.shard([5]) == ([5], 0.0)  # rank 1, a 1-row batch: runs it, weight 0
    assert distributed.step_seed(0, 3) != distributed.step_seed(0, 4)
