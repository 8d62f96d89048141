"""Malformed inputs: params.yaml, checkpoints, CLI arguments and data files.

Each must stop with a clear error naming the field / file / line, exit non-zero, and leave what
was already computed byte-identical (a snapshot of existing outputs is compared after the call).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import pickle
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.test_cell import small_params
from xstilts.core.params import ParamsError, parse_params

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "pipeline"


# --------------------------------------------------------------------------- helpers


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def existing_outputs(root: Path) -> dict[str, str]:
    """Outputs of an earlier run (a checkpoint, metrics, predictions) that a failed call must
    leave as they are; returns their snapshot."""
    files = {
        "models/intermediate/none/seed0/encoder/config.json": '{"done": 1}',
        "models/target/none/xcat_pair/seed0/head.json": '{"task": "xcat_pair"}',
        "metrics/eval/none/xcat_pair/seed0.json": '{"avg_non_en": 61.5}',
        "metrics/data/xcat_pair.json": '{"train": {"en": 48}}',
        "predictions/none/xcat_pair/seed0/de.json": '{"ids": ["1"]}',
        "data/prepared/xcat_pair/task.json": '{"name": "xcat_pair"}',
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return snapshot(root / "models") | snapshot(root / "metrics") | \
        snapshot(root / "predictions") | snapshot(root / "data")


def outputs_now(root: Path) -> dict[str, str]:
    return snapshot(root / "models") | snapshot(root / "metrics") | \
        snapshot(root / "predictions") | snapshot(root / "data")


def run_script(script: str, *argv: str) -> tuple[int, str]:
    """A pipeline script in-process (as `python pipeline/<script> ...`): (exit code, stderr)."""
    err = io.StringIO()
    old = sys.argv
    sys.argv = [str(PIPELINE / script), *argv]
    try:
        with contextlib.redirect_stderr(err):
            runpy.run_path(str(PIPELINE / script), run_name="__main__")
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = old
    return code, err.getvalue()


def line_of(text: str, needle: str | tuple[str, int]) -> int:
    """Line of `needle` (or of its n-th occurrence: `(needle, n)`) in `text`."""
    needle, nth = needle if isinstance(needle, tuple) else (needle, 1)
    return [i for i, s in enumerate(text.splitlines(), 1) if needle in s][nth - 1]


@pytest.fixture
def project(tmp_path, tiny_encoder_dir, monkeypatch):
    """A working directory with a valid params.yaml and outputs of an earlier run."""
    raw = small_params(tiny_encoder_dir, tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path, raw, existing_outputs(tmp_path)


# --------------------------------------------------------------------------- params.yaml


def _set(raw: dict, dotted: str, value) -> None:
    node = raw
    keys = dotted.split(".")
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value


# (id, dotted key to set, value, key named in the error, a needle on the expected line, reason)
PARAM_CASES = [
    ("seeds-empty", "seeds", [], "seeds", "seeds:", "at least 1 item"),
    ("seeds-duplicated", "seeds", [0, 1, 0], "seeds", "seeds:", "repeated seed"),
    ("seeds-negative", "seeds", [-1], "seeds.0", "- -1", "greater than or equal to 0"),
    ("seeds-bool", "seeds", [True], "seeds.0", "- true", "valid integer"),
    ("seeds-string", "seeds", "zero", "seeds", "seeds:", "valid list"),
    ("lr-string", "target.hparams.xcat_pair.lr", "fast", "target.hparams.xcat_pair.lr",
     "lr: fast", "valid number"),
    ("lr-out-of-range", "target.hparams.xcat_pair.lr", 5, "target.hparams.xcat_pair.lr",
     "lr: 5", "less than or equal to 1"),
    ("batch-size-float", "intermediate.hparams.cldr_region.batch_size", 2.5,
     "intermediate.hparams.cldr_region.batch_size", "batch_size: 2.5", "valid integer"),
    ("threads-string", "runtime.threads", "many", "runtime.threads", "threads: many",
     "valid integer"),
    ("device-unknown", "runtime.device", "tpu", "runtime.device", "device: tpu",
     "'auto', 'cpu' or 'cuda'"),
    ("unknown-top-key", "trainer", {"fp16": True}, "trainer", "trainer:", "unknown key; allowed"),
    ("unknown-hparam", "target.hparams.xcat_pair.learning_rate", 1e-4,
     "target.hparams.xcat_pair.learning_rate", "learning_rate:", "unknown key; allowed: lr"),
    ("tasks-not-a-mapping", "tasks", ["xcat_pair"], "tasks", "tasks:", "valid dictionary"),
    ("unknown-task", "tasks.nosuchtask", {"source": "embedded"}, "tasks.nosuchtask",
     "nosuchtask:", "unknown task; known:"),
    ("local-without-path", "tasks.xcat_pair", {"source": "local"}, "tasks.xcat_pair",
     "xcat_pair:", "needs 'path'"),
    ("no-embedded-data", "tasks.xnli", {"source": "embedded"}, "tasks.xnli.source",
     ("source: embedded", 5), "has no embedded data"),
    ("retrieval-as-target", "target.tasks", ["xcat_pair", "xcat_tag", "xname_retrieval"],
     "target.tasks", ("tasks:", 3), "is a retrieval task"),
    ("retrieval-as-intermediate", "intermediate.tasks", ["none", "cldr_region",
                                                         "xname_retrieval"],
     "intermediate.tasks", ("tasks:", 2), "is a retrieval task"),
    ("trained-task-in-retrieval", "evaluate.retrieval_tasks", ["xcat_pair"],
     "evaluate.retrieval_tasks", "retrieval_tasks:", "is not a retrieval task"),
    ("undeclared-target", "target.tasks", ["xcat_pair", "xcat_tag", "xcat_qa"], "target.tasks",
     ("tasks:", 3), "'xcat_qa' is not declared under `tasks:`"),
    ("target-duplicated", "target.tasks", ["xcat_pair", "xcat_pair", "xcat_tag"],
     "target.tasks", ("tasks:", 3), "repeated task"),
    ("missing-hparams", "target.hparams.xcat_tag", None, "target.hparams.xcat_tag",
     "xcat_tag: null", "valid dictionary"),
    ("baseline-with-hparams", "intermediate.hparams.none", {"lr": 1e-5},
     "intermediate.hparams.none", "none:", "baseline trains nothing"),
    ("doc-stride-too-long", "target.hparams.xcat_pair.doc_stride", 100,
     "target.hparams.xcat_pair", ("xcat_pair:", 2),
     "doc_stride must be smaller than max_length"),
    ("language-unknown", "tasks.xcat_pair.languages", ["en", "xx"], "tasks.xcat_pair.languages",
     "languages:", "'xx' not among"),
    ("tracking-uri-list", "tracking.uri", ["a", "b"], "tracking.uri", "uri:", "valid string"),
    ("non-english-tune-objective", "tune.objective", {"split": "dev", "lang": "de"},
     "tune.objective", "objective:", "English dev set"),
]


@pytest.mark.parametrize("case", PARAM_CASES, ids=[c[0] for c in PARAM_CASES])
def test_bad_params_stop_every_stage_naming_key_and_line(project, case):
    from xstilts.cli import main

    tmp, raw, before = project
    _, dotted, value, key, needle, reason = case
    bad = copy.deepcopy(raw)
    _set(bad, dotted, value)
    text = yaml.safe_dump(bad, sort_keys=False)
    (tmp / "params.yaml").write_text(text)
    line = line_of(text, needle)

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["check"]) == 2
    msg = err.getvalue()
    assert f"params.yaml:{line}: {key}" in msg and reason in msg, msg
    # every stage refuses before any work
    for script, argv in [("cell.py", ["intermediate", "none", "0"]),
                         ("cell.py", ["target", "none", "xcat_pair", "0"]),
                         ("prepare_data.py", ["xcat_pair"])]:
        code, stderr = run_script(script, *argv)
        assert code == 2 and f"params.yaml:{line}: {key}" in stderr, (script, stderr)
    assert outputs_now(tmp) == before


def test_target_without_english_train_split(project, monkeypatch):
    """A (registered) task whose English data has no train split cannot be a target."""
    import dataclasses

    from xstilts.tasks import REGISTRY

    tmp, raw, before = project
    no_train = dataclasses.replace(REGISTRY["xcat_pair"], name="xcat_pair_notrain",
                                   splits={**REGISTRY["xcat_pair"].splits, "en": ("test",)})
    monkeypatch.setitem(REGISTRY, "xcat_pair_notrain", no_train)
    bad = copy.deepcopy(raw)
    bad["tasks"]["xcat_pair_notrain"] = {"source": "embedded"}
    bad["target"]["tasks"].append("xcat_pair_notrain")
    bad["target"]["hparams"]["xcat_pair_notrain"] = {"epochs": 1}
    text = yaml.safe_dump(bad, sort_keys=False)
    with pytest.raises(ParamsError) as e:
        parse_params(text)
    assert (f"params.yaml:{line_of(text, ('tasks:', 3))}: target.tasks: 'xcat_pair_notrain' has no "
            "English train and dev split") in str(e.value)


@pytest.mark.parametrize("edit, line_needle, reason", [
    (lambda t: t.replace("  bf16: false", "  bf16: false\n  bf16: true"), "  bf16: true",
     "runtime.bf16: duplicate key (first at line"),
    (lambda t: t.replace("seeds:\n- 0", "seeds: [0"), "tracking:", "not valid YAML"),
    (lambda t: t.replace("  bf16: false", "\tbf16: false"), "\tbf16", "not valid YAML"),
])
def test_malformed_yaml_names_the_line(project, edit, line_needle, reason):
    from xstilts.cli import main

    tmp, raw, before = project
    text = edit(yaml.safe_dump(raw, sort_keys=False))
    (tmp / "params.yaml").write_text(text)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["check"]) == 2
    assert f"params.yaml:{line_of(text, line_needle)}: " in err.getvalue()
    assert reason in err.getvalue()
    assert run_script("cell.py", "intermediate", "none", "0")[0] == 2
    assert outputs_now(tmp) == before


@pytest.mark.parametrize("text, reason", [("", "expected a mapping"),
                                          ("- seeds\n- tasks\n", "expected a mapping")])
def test_empty_or_list_params(project, text, reason):
    tmp, raw, before = project
    (tmp / "params.yaml").write_text(text)
    code, stderr = run_script("cell.py", "intermediate", "none", "0")
    assert code == 2 and reason in stderr
    assert outputs_now(tmp) == before


def test_missing_params_file(project, capsys):
    from xstilts.cli import main

    tmp, raw, before = project
    assert main(["check", "--params", "nosuch.yaml"]) == 2
    assert "nosuch.yaml: file not found" in capsys.readouterr().err
    (tmp / "params.yaml").unlink()
    code, stderr = run_script("cell.py", "target", "none", "xcat_pair", "0")
    assert code == 2 and "params.yaml: file not found" in stderr
    assert outputs_now(tmp) == before


# --------------------------------------------------------------------------- CLI arguments


# (script, argv, the argument named, the configured choices listed)
CLI_CASES = [
    ("prepare_data.py", ["nosuchtask"], "task 'nosuchtask'", "xcat_pair"),
    ("cell.py", ["intermediate", "mnli", "0"], "intermediate task 'mnli'", "cldr_region"),
    ("cell.py", ["intermediate", "none", "7"], "seed '7'", "[0]"),
    ("cell.py", ["intermediate", "none", "zero"], "seed 'zero'", "[0]"),
    ("cell.py", ["target", "nosuch", "xcat_pair", "0"], "intermediate task 'nosuch'",
     "cldr_region"),
    ("cell.py", ["target", "none", "xnli", "0"], "target task 'xnli'", "xcat_tag"),
    ("cell.py", ["target", "none", "xcat_pair", "3"], "seed '3'", "[0]"),
    ("cell.py", ["target", "none", "xname_retrieval", "0"], "target task 'xname_retrieval'",
     "xcat_pair"),
    ("cell.py", ["target", "none", "xcat_pair", "-1"], "seed '-1'", "[0]"),
    ("cell.py", ["retrieve", "none", "xcat_pair", "0"], "retrieval task 'xcat_pair'",
     "xname_retrieval"),
    ("cell.py", ["retrieve", "bogus", "xname_retrieval", "0"], "intermediate task 'bogus'",
     "none"),
    ("cell.py", ["volume_target", "cldr_region", "0.5", "xcat_pair", "0"],
     "volume intermediate task 'cldr_region'", "[]"),
    ("cell.py", ["scaling_intermediate", "big", "none", "0"], "scaling model 'big'", "[]"),
    ("export.py", ["none", "9"], "seed '9'", "[0]"),
    ("export.py", ["cldr_regio", "0"], "intermediate task 'cldr_regio'", "cldr_region"),
]


@pytest.mark.parametrize("script, argv, named, listed", CLI_CASES,
                         ids=[f"{c[0]}-{'-'.join(c[1])}" for c in CLI_CASES])
def test_unknown_stage_arguments(project, script, argv, named, listed):
    tmp, raw, before = project
    code, stderr = run_script(script, *argv)
    assert code == 2
    assert named in stderr and "not configured in params.yaml" in stderr and listed in stderr
    assert outputs_now(tmp) == before


@pytest.mark.parametrize("script, argv", [("cell.py", ["target", "none"]),
                                          ("cell.py", ["nosuch_stage", "none", "0"]),
                                          ("cell.py", ["intermediate", "none", "0", "extra"])])
def test_wrong_argument_count(project, script, argv):
    tmp, raw, before = project
    code, stderr = run_script(script, *argv)
    assert code == 2 and "usage:" in stderr
    assert outputs_now(tmp) == before


def test_stage_script_exit_code_in_a_real_process(project):
    tmp, raw, before = project
    r = subprocess.run([sys.executable, str(PIPELINE / "cell.py"), "target", "none", "nosuch",
                        "0"],
                       cwd=tmp, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert "error: target task 'nosuch' is not configured in params.yaml" in r.stderr
    assert outputs_now(tmp) == before


@pytest.mark.parametrize("argv, code, named", [
    (["tune", "--phase", "bogus", "--task", "xcat_pair", "--trials", "1"], 2, "--phase"),
    (["tune", "--phase", "target", "--trials", "1"], 2, "--task"),
    (["tune", "--phase", "target", "--task", "xcat_pair", "--trials", "many"], 2, "--trials"),
    (["tune", "--phase", "target", "--task", "xcat_pair", "--trials", "1", "--seed", "x"], 2,
     "--seed"),
    (["tune", "--phase", "target", "--task", "nosuch", "--trials", "1"], 2,
     "--task 'nosuch' is not a target task"),
    (["tune", "--phase", "target", "--task", "cldr_region", "--trials", "1"], 2,
     "--task 'cldr_region' is not a target task"),
    (["tune", "--phase", "intermediate", "--task", "xcat_pair", "--trials", "1"], 2,
     "--task 'xcat_pair' is not a trained intermediate task"),
    (["tune", "--phase", "target", "--task", "xcat_pair", "--intermediate", "nosuch",
      "--trials", "1"], 2, "--intermediate 'nosuch'"),
    (["tune", "--phase", "target", "--task", "xcat_pair", "--trials", "-1"], 2,
     "--trials must be >= 0"),
    (["nosuchcommand"], 2, "invalid choice"),
    (["tracking-sync", "--spool", "no/such/dir"], 2, "--spool no/such/dir: no such folder"),
])
def test_bad_cli_arguments(project, capsys, argv, code, named):
    from xstilts.cli import main

    tmp, raw, before = project
    try:
        got = main(argv)
    except SystemExit as e:
        got = e.code
    out = capsys.readouterr()
    assert got == code
    assert named in out.err + out.out, out
    assert outputs_now(tmp) == before
    assert not (tmp / "tune").exists()


# --------------------------------------------------------------------------- checkpoints


class _Payload:
    """Unpickling this creates the file `marker`: proof that a pickle was loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _pickle_bomb(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(_Payload(marker)))


@pytest.fixture
def task_ckpt(tmp_path, tiny_encoder_dir, xlmr_tokenizer):
    """A good xcat_pair checkpoint (encoder/ + head) of the tiny encoder."""
    from transformers import AutoModel

    from xstilts.core.modeling import TaskModel
    from xstilts.tasks import get_task

    enc = AutoModel.from_pretrained(str(tiny_encoder_dir), add_pooling_layer=False)
    ckpt = tmp_path / "ckpt"
    TaskModel(enc, get_task("xcat_pair"), "mean", 0.1).save(ckpt, xlmr_tokenizer)
    return ckpt


@pytest.fixture
def no_unpickling(monkeypatch):
    """Fail the test if anything calls torch.load or pickle.load(s)."""
    import torch

    def refuse(*a, **k):
        raise AssertionError("a pickle was loaded")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)


def _edit_config(ckpt: Path, **changes) -> None:
    f = ckpt / "encoder" / "config.json"
    cfg = json.loads(f.read_text())
    cfg.update(changes)
    f.write_text(json.dumps(cfg))


def _truncate(f: Path, keep: float | int) -> None:
    data = f.read_bytes()
    f.write_bytes(data[:keep if isinstance(keep, int) else int(len(data) * keep)])


CKPT_CASES = [
    ("folder-missing", lambda c: shutil.rmtree(c), FileNotFoundError, "does not exist"),
    ("model-safetensors-missing", lambda c: (c / "encoder/model.safetensors").unlink(),
     FileNotFoundError, "no safetensors weights"),
    ("config-missing", lambda c: (c / "encoder/config.json").unlink(), FileNotFoundError,
     "missing config.json"),
    ("model-truncated-header", lambda c: _truncate(c / "encoder/model.safetensors", 100),
     "CheckpointError", "model.safetensors: not a readable safetensors file"),
    ("model-truncated-half", lambda c: _truncate(c / "encoder/model.safetensors", 0.5),
     "CheckpointError", "model.safetensors: not a readable safetensors file"),
    ("model-empty", lambda c: _truncate(c / "encoder/model.safetensors", 0),
     "CheckpointError", "model.safetensors: not a readable safetensors file"),
    ("hidden-size-mismatch", lambda c: _edit_config(c, hidden_size=64, intermediate_size=128),
     "CheckpointError", "does not fit config.json (hidden_size=64)"),
    ("more-layers-in-config", lambda c: _edit_config(c, num_hidden_layers=4), "CheckpointError",
     "lacks 32 of the 69 tensors"),
    ("other-architecture", lambda c: _edit_config(c, model_type="gpt2",
                                                  architectures=["GPT2Model"]),
     "CheckpointError", "architecture gpt2 (GPT2Model)"),
    ("unknown-architecture", lambda c: _edit_config(c, model_type="nosuchmodel"),
     "CheckpointError", "config.json: unusable config"),
    ("config-truncated", lambda c: _truncate(c / "encoder/config.json", 20), "CheckpointError",
     "config.json: unusable config"),
    ("head-missing", lambda c: (c / "head.safetensors").unlink(), FileNotFoundError,
     "head.safetensors is missing"),
    ("head-json-missing", lambda c: (c / "head.json").unlink(), FileNotFoundError,
     "head.json is missing"),
    ("head-json-truncated", lambda c: _truncate(c / "head.json", 15), "CheckpointError",
     "head.json:"),
    ("head-truncated", lambda c: _truncate(c / "head.safetensors", 0.5), "CheckpointError",
     "head.safetensors: not a readable safetensors file"),
]


@pytest.mark.parametrize("name, corrupt, exc, reason", CKPT_CASES,
                         ids=[c[0] for c in CKPT_CASES])
def test_bad_checkpoint_is_named(task_ckpt, no_unpickling, name, corrupt, exc, reason):
    from xstilts.core import modeling
    from xstilts.tasks import get_task

    corrupt(task_ckpt)
    exc = getattr(modeling, exc) if isinstance(exc, str) else exc
    with pytest.raises(exc) as e:
        modeling.load_task_model(task_ckpt, get_task("xcat_pair"))
    assert reason in str(e.value) and str(task_ckpt) in str(e.value), str(e.value)


def test_head_of_another_task_or_size(task_ckpt, tmp_path, no_unpickling):
    from safetensors.torch import load_file, save_file

    from xstilts.core.modeling import CheckpointError, load_task_model
    from xstilts.tasks import get_task

    with pytest.raises(ValueError, match="head is for task 'xcat_pair', not 'xcat_choice'"):
        load_task_model(task_ckpt, get_task("xcat_choice"))
    head = task_ckpt / "head.safetensors"
    state = {k: v[..., :8].contiguous() if v.dim() == 2 else v for k, v in
             load_file(str(head)).items()}
    save_file(state, str(head))
    with pytest.raises(CheckpointError, match=r"head.safetensors: does not fit .*size mismatch"):
        load_task_model(task_ckpt, get_task("xcat_pair"))


def test_pickled_weights_are_never_unpickled(task_ckpt, tmp_path, no_unpickling):
    """A `pytorch_model.bin` (pickle) beside or instead of the safetensors file is never
    loaded: with both, safetensors is used; with the pickle alone, the load is refused."""
    from xstilts.core.modeling import load_encoder, load_task_model
    from xstilts.tasks import get_task

    marker = tmp_path / "UNPICKLED"
    _pickle_bomb(task_ckpt / "encoder" / "pytorch_model.bin", marker)
    _pickle_bomb(task_ckpt / "head.bin", marker)
    model, _ = load_task_model(task_ckpt, get_task("xcat_pair"))
    assert model.encoder.config.hidden_size == 32
    (task_ckpt / "encoder" / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="pytorch_model.bin not loaded: pickled weights "
                                                "are refused"):
        load_encoder(task_ckpt)
    assert not marker.exists()


def test_bad_checkpoint_leaves_evaluation_outputs(project, tiny_encoder_dir, xlmr_tokenizer):
    """The target stage's evaluation of a truncated checkpoint fails before touching its
    metrics/predictions."""
    from transformers import AutoModel

    from xstilts.core import cell, families, paths
    from xstilts.core.modeling import CheckpointError, TaskModel
    from xstilts.tasks import get_task

    tmp, raw, _ = project
    p = parse_params((tmp / "params.yaml").read_text())
    ckpt = paths.target_dir("none", "xcat_pair", 0)
    shutil.rmtree(ckpt)
    enc = AutoModel.from_pretrained(str(tiny_encoder_dir), add_pooling_layer=False)
    TaskModel(enc, get_task("xcat_pair"), "mean", 0.1).save(ckpt, xlmr_tokenizer)
    _truncate(ckpt / "encoder" / "model.safetensors", 0.5)
    before = outputs_now(tmp)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        cell.run_evaluate(*families.resolve(p, "target", ["none", "xcat_pair", "0"]))
    assert outputs_now(tmp) == before
    _truncate(paths.intermediate_dir("none", 0) / "encoder" / "config.json", 3)
    before = outputs_now(tmp)
    with pytest.raises(FileNotFoundError):
        families.run_stage(p, "retrieve", "none", "xname_retrieval", 0)
    assert outputs_now(tmp) == before
    # target training from that broken intermediate checkpoint keeps its previous outputs
    with pytest.raises(FileNotFoundError):
        families.run_stage(p, "target", "none", "xcat_pair", 0)
    assert outputs_now(tmp) == before


# --------------------------------------------------------------------------- data files


def _pawsx_dir(root: Path, en_train: str | bytes, en_dev: str | bytes | None = None) -> Path:
    header = "id\tsentence1\tsentence2\tlabel\n"
    good = header + "1\tA cat.\tA cat.\t1\n2\tA dog.\tA car.\t0\n"
    files = {"x-final/en/train.tsv": en_train, "x-final/en/dev_2k.tsv": en_dev or good,
             "x-final/en/test_2k.tsv": good, "x-final/de/dev_2k.tsv": good,
             "x-final/de/test_2k.tsv": good}
    for rel, content in files.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            f.write_bytes(content)
        else:
            f.write_text(content, encoding="utf-8")
    return root


HEADER = "id\tsentence1\tsentence2\tlabel\n"
DATA_CASES = [
    ("wrong-column-count", HEADER + "1\tA cat.\tA cat.\t1\n2\tA dog.\t0\n",
     "x-final/en/train.tsv:3: expected 4 tab-separated columns (as the header), found 3"),
    ("label-outside-label-set", HEADER + "1\tA cat.\tA cat.\t1\n2\tA dog.\tA car.\t2\n",
     "x-final/en/train.tsv:3: label '2' is not one of"),
    ("bad-encoding", (HEADER + "1\tA cat.\tA cat.\t1\n").encode() + b"2\tSch\xf6n\tA car.\t0\n",
     "x-final/en/train.tsv:3: not valid UTF-8 (byte 0xf6"),
    ("header-missing-column", "id\tsentence1\tlabel\n1\tA\t1\n",
     "x-final/en/train.tsv:1: header lacks column(s) ['sentence2']"),
    ("empty-file", "", "x-final/en/train.tsv:1: empty file"),
    ("empty-split", HEADER, "split en/train is empty"),
]


@pytest.mark.parametrize("name, train, reason", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_bad_data_file_leaves_prepared_data(project, name, train, reason):
    """`prepare_data@pawsx` on local release files with one bad file: a clear error naming the
    file and line (or the split), exit non-zero, the earlier prepared data untouched."""
    tmp, raw, _ = project
    src = _pawsx_dir(tmp / "release", train)
    raw = copy.deepcopy(raw)
    raw["tasks"]["pawsx"] = {"source": "local", "path": str(src), "languages": ["en", "de"]}
    (tmp / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    prepared = tmp / "data/prepared/pawsx/task.json"
    prepared.parent.mkdir(parents=True)
    prepared.write_text('{"name": "pawsx"}')
    (tmp / "metrics/data/pawsx.json").write_text('{"train": {"en": 2}}')
    before = outputs_now(tmp)
    with pytest.raises(ValueError, match=re.escape(reason)) as e:
        run_script("prepare_data.py", "pawsx")
    if name == "empty-split":
        assert str(src) in str(e.value)  # the task's source folder at least
    assert outputs_now(tmp) == before
    assert not list((tmp / "data/prepared").glob(".*staging"))


def test_good_local_data_replaces_prepared_data(project):
    tmp, raw, _ = project
    good = HEADER + "1\tA cat.\tA cat.\t1\n2\tA dog.\tA car.\t0\n"
    src = _pawsx_dir(tmp / "release", good)
    raw = copy.deepcopy(raw)
    raw["tasks"]["pawsx"] = {"source": "local", "path": str(src), "languages": ["en", "de"]}
    (tmp / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    assert run_script("prepare_data.py", "pawsx")[0] == 0
    counts = json.loads((tmp / "metrics/data/pawsx.json").read_text())
    assert counts == {"dev": {"de": 2, "en": 2}, "test": {"de": 2, "en": 2}, "train": {"en": 2}}


def test_truncated_and_invalid_json(tmp_path):
    from xstilts.tasks.readers import DataFormatError, read_anli_jsonl, read_squad_json

    squad = tmp_path / "xquad.de.json"
    squad.write_text('{"data": [{"title": "t", "paragraphs": [\n{"context": "abc", "qas": [')
    with pytest.raises(DataFormatError, match=r"xquad\.de\.json:2: invalid JSON"):
        read_squad_json(squad)
    anli = tmp_path / "train.jsonl"
    anli.write_text('{"uid": "1", "context": "a", "hypothesis": "b", "label": "e"}\n'
                    '{"uid": "2", "context": "a", "hypo')
    with pytest.raises(DataFormatError, match=r"train\.jsonl:2: invalid JSON"):
        read_anli_jsonl(anli)
    anli.write_text('{"uid": "1", "context": "a", "hypothesis": "b", "label": "x"}\n')
    with pytest.raises(DataFormatError, match=r"train\.jsonl:1: label 'x' is not one of"):
        read_anli_jsonl(anli)
    anli.write_text('{"uid": "1", "context": "a", "label": "e"}\n')
    with pytest.raises(DataFormatError, match=r"train\.jsonl:1: missing field 'hypothesis'"):
        read_anli_jsonl(anli)


def test_bad_encoding_in_json_and_conllu(tmp_path):
    from xstilts.tasks.readers import DataFormatError, read_conllu, read_squad_json

    f = tmp_path / "dev.json"
    f.write_bytes(b'{"data": [\n{"title": "\xff"}]}')
    with pytest.raises(DataFormatError, match=r"dev\.json:2: not valid UTF-8"):
        read_squad_json(f)
    c = tmp_path / "de_gsd-ud-test.conllu"
    c.write_bytes(b"# sent_id = 1\n1\tSch\xf6n\tsch\xf6n\tADJ\t_\t_\t0\troot\t_\t_\n\n")
    with pytest.raises(DataFormatError, match=r"de_gsd-ud-test\.conllu:2: not valid UTF-8"):
        read_conllu(c)


@pytest.mark.parametrize("records, reason", [
    ([{"id": "a", "text_a": "x", "text_b": "y", "label": 5}],
     "record 0 (id 'a'): label 5 is outside the label set"),
    ([{"id": "a", "text_a": "x", "text_b": "y", "label": 1},
      {"id": "b", "text_a": "x", "text_b": "y", "label": -1}],
     "record 1 (id 'b'): label -1 is outside the label set"),
    ([{"id": "a", "text_a": "x", "text_b": "y", "label": "same"}],
     "label 'same' is outside the label set"),
    ([], "split en/train is empty"),
])
def test_canonical_records_are_checked(tmp_path, monkeypatch, records, reason):
    """Whatever the loader (embedded, hub, local), labels outside the label set and empty
    splits are refused before anything is written."""
    import dataclasses

    from xstilts.core import data
    from xstilts.core.params import TaskSource
    from xstilts.tasks import REGISTRY

    good = [{"id": "g", "text_a": "x", "text_b": "y", "label": 0}]
    fake = dataclasses.replace(
        REGISTRY["xcat_pair"], name="fake_pair",
        embedded=lambda seed=0: {("en", "train"): records, ("en", "dev"): good,
                                 ("de", "test"): good})
    monkeypatch.setitem(REGISTRY, "fake_pair", fake)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier output")
    with pytest.raises(ValueError, match=re.escape(reason)):
        data.prepare_task("fake_pair", TaskSource(source="embedded"), out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_multiple_choice_and_tagging_labels_are_checked(monkeypatch, tmp_path):
    import dataclasses

    from xstilts.core import data
    from xstilts.core.params import TaskSource
    from xstilts.tasks import REGISTRY

    mc = dataclasses.replace(REGISTRY["xcat_choice"], name="fake_mc", embedded=lambda seed=0: {
        ("en", "train"): [{"id": "q", "context": "c", "choices": ["a", "b"], "label": 2}]})
    monkeypatch.setitem(REGISTRY, "fake_mc", mc)
    with pytest.raises(ValueError, match="label 2 is not the index of one of its 2 choices"):
        data.prepare_task("fake_mc", TaskSource(), tmp_path / "mc")
    tag = dataclasses.replace(REGISTRY["xcat_tag"], name="fake_tag", embedded=lambda seed=0: {
        ("en", "train"): [{"id": "s", "tokens": ["a", "b"], "tags": ["O", "B-XYZ"]}]})
    monkeypatch.setitem(REGISTRY, "fake_tag", tag)
    with pytest.raises(ValueError, match=r"tags \['B-XYZ'\] are outside the label set"):
        data.prepare_task("fake_tag", TaskSource(), tmp_path / "tag")
    tag2 = dataclasses.replace(tag, name="fake_tag2", embedded=lambda seed=0: {
        ("en", "train"): [{"id": "s", "tokens": ["a", "b"], "tags": ["O"]}]})
    monkeypatch.setitem(REGISTRY, "fake_tag2", tag2)
    with pytest.raises(ValueError, match="2 tokens but 1 tags"):
        data.prepare_task("fake_tag2", TaskSource(), tmp_path / "tag2")
