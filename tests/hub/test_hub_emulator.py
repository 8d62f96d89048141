"""Every hub loader of the registry through the real `datasets` / `huggingface_hub` /
`transformers` clients, against a local hub emulator (tests/hub/emulator.py) serving the
published schemas (xstilts.hub_schemas) at the registry's pinned revisions. Nothing of
`datasets` is monkeypatched: the loaders run in a subprocess with HF_ENDPOINT pointed at the
emulator and a fresh HF cache."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.hub.emulator import HubEmulator, Repo
from tests.hub.repos import all_dataset_repos, fake_sha, merged, registry_pins
from xstilts.hub_schemas import SCHEMAS

ROOT = Path(__file__).resolve().parents[2]
LOADS, CHECKS = merged("LOADS"), merged("CHECKS")
MODEL_REPO = "xlm-roberta-large"  # profiles/paper.yaml model.name (a legacy one-segment id)
MODEL_SHA = fake_sha(MODEL_REPO, "main")
CLI = "import sys; from xstilts.cli import main; sys.exit(main())"


def hub_env(url: str, home: Path) -> dict:
    env = {**os.environ, "HF_ENDPOINT": url, "HF_HOME": str(home), "HF_HUB_OFFLINE": "0",
           "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    for key in ("HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_CACHE"):
        env.pop(key, None)
    return env


def run_py(url: str, home: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=hub_env(url, home),
                          capture_output=True, text=True, timeout=timeout)


def load_all(url: str, home: Path, *names: str) -> dict:
    out = home / "loaded.json"
    proc = run_py(url, home, "-m", "tests.hub.load_all", str(out), *names)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def model_repo(tmp_path_factory, xlmr_tokenizer) -> Repo:
    """A tiny random XLM-R encoder repo (config, safetensors, tokenizer files) at MODEL_SHA."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    torch.manual_seed(0)
    config = XLMRobertaConfig(vocab_size=len(xlmr_tokenizer), hidden_size=32,
                              num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                              max_position_embeddings=514, pad_token_id=1)
    folder = tmp_path_factory.mktemp("hub-model")
    XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(folder)
    xlmr_tokenizer.save_pretrained(folder)
    repo = Repo(MODEL_REPO, "model")
    repo.add_commit(MODEL_SHA, {p.name: p.read_bytes() for p in folder.iterdir()}, "main")
    return repo


@pytest.fixture(scope="module")
def hub(model_repo):
    with HubEmulator([*all_dataset_repos(), model_repo]) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def loaded(hub, tmp_path_factory) -> dict:
    return load_all(hub.url, tmp_path_factory.mktemp("hf-home"))


def _check(result: dict, name: str) -> list[str]:
    """The CHECKS of task `name` that fail on `result` (a load_all answer)."""
    if "error" in result:
        return [result["error"]]
    failures = []
    for lang, split, index, field, expected in CHECKS[name]:
        records = result["data"].get(f"{lang}/{split}")
        if records is None or index >= len(records):
            failures.append(f"{lang}/{split}: no record {index} (got "
                            f"{sorted(result['data'])} / {len(records or [])} records)")
            continue
        rec = records[index]
        if field == "label_name":
            got = result["labels"][rec["label"]]
        elif field == "tag_names":
            got = rec["tags"]
        else:
            got = rec[field]
        if got != expected:
            failures.append(f"{lang}/{split}[{index}].{field}: {got!r} != {expected!r}")
    return failures


@pytest.mark.parametrize("name", sorted(LOADS))
def test_task_loads_through_the_real_client(loaded, name):
    failures = _check(loaded[name], name)
    assert not failures, f"{name}: " + "; ".join(failures)


def _profile_hub_tasks() -> set[str]:
    names = set()
    for profile in ("paper.yaml", "xtreme_r.yaml"):
        data = yaml.safe_load((ROOT / "profiles" / profile).read_text(encoding="utf-8"))
        names |= {n for n, t in data["tasks"].items() if t.get("source") == "hub"}
    return names


def test_every_profile_hub_task_is_served_and_checked():
    """Each hub task of the paper and XTREME-R profiles is loaded here, each labelled one has a
    label-name check, and every repo the registry reads has a published schema."""
    from xstilts.tasks import get_task

    hub_tasks = _profile_hub_tasks()
    assert hub_tasks - set(LOADS) == set(), "profile hub tasks without an emulator test"
    for name in hub_tasks:
        task = get_task(name)
        fields = {c[3] for c in CHECKS[name]}
        if task.labels:  # label names: classification labels or tags
            assert fields & {"label_name", "tag_names"}, f"{name}: no label-name check"
        if task.type == "multiple_choice":
            assert "label" in fields, f"{name}: no answer-index check"
        assert CHECKS[name], f"{name}: no checks"
    assert set(registry_pins()) <= set(SCHEMAS), "registry hub repos without a schema"


def test_a_mutated_label_order_is_caught(tmp_path, model_repo):
    """Serving XNLI with its ClassLabel names in another order (same ids) changes what the
    loader reads, and the label-name checks see it: the suite catches a wrong mapping."""
    from datasets import ClassLabel

    def swap(config, split, features, rows):
        features = features.copy()
        names = list(features["label"].names)
        features["label"] = ClassLabel(names=[names[2], names[1], names[0]])
        return features, rows

    repos = all_dataset_repos({"facebook/xnli": swap})
    with HubEmulator(repos) as emulator:
        result = load_all(emulator.url, tmp_path, "xnli")["xnli"]
    assert "error" not in result, result
    assert _check(result, "xnli"), "a swapped XNLI label order went unnoticed"


def test_bad_revisions_and_scripts_fail_clearly_before_training(tmp_path):
    """A wrong pin, an unknown repo and a loading script without Parquet export are refused by
    the first prepare step with the task, the repo and what to do (no datasets stack trace)."""
    pins = registry_pins()
    cosmos = SCHEMAS["allenai/cosmos_qa"]
    script_only = Repo(cosmos.repo)
    script_only.add_commit(pins[cosmos.repo][0][0], {"cosmos_qa.py": b"# script\n"}, "main")
    others = [r for r in all_dataset_repos() if r.repo_id != cosmos.repo]
    code = """
import sys
from xstilts.core.data import load_task_data
from xstilts.core.params import TaskSource
from xstilts.tasks.core import get_task
for name, rev in (("xnli", "0" * 40), ("cosmosqa", None)):
    try:
        load_task_data(get_task(name), TaskSource(source="hub", revision=rev))
    except Exception as e:
        print(type(e).__name__, "|", e)
"""
    with HubEmulator([*others, script_only]) as emulator:
        proc = run_py(emulator.url, tmp_path, "-c", code)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2, proc.stdout + proc.stderr[-3000:]
    xnli, cosmosqa = lines
    assert xnli.startswith("HubSourceError | task 'xnli': hub dataset facebook/xnli has no "
                           "revision '0000000000000000000000000000000000000000'"), xnli
    assert "tasks.xnli.revision" in xnli and "xstilts pin" in xnli
    assert cosmosqa.startswith("HubSourceError | task 'cosmosqa': hub dataset allenai/cosmos_qa@")
    assert "is a loading script" in cosmosqa and "tasks.cosmosqa.source: local" in cosmosqa


def test_base_model_from_the_hub(hub, tmp_path, xlmr_tokenizer):
    """model.source: hub -- `from_pretrained(name, revision=...)` through the real clients."""
    out = tmp_path / "model"
    code = ("import sys; from xstilts.core.base_model import load_hub_model; "
            f"load_hub_model({MODEL_REPO!r}, sys.argv[1], revision={MODEL_SHA!r})")
    proc = run_py(hub.url, tmp_path, "-c", code, str(out))
    assert proc.returncode == 0, proc.stderr[-4000:]
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(out)
    assert model.config.model_type == "xlm-roberta" and model.config.num_hidden_layers == 2
    tokenizer = AutoTokenizer.from_pretrained(out)
    text = "Zero-shot transfer, 零样本迁移"
    assert tokenizer(text)["input_ids"] == xlmr_tokenizer(text)["input_ids"]
    assert ("GET", f"/{MODEL_REPO}/resolve/{MODEL_SHA}/model.safetensors") in hub.requests
    proc = run_py(hub.url, tmp_path, "-c", code.replace(MODEL_SHA, "f" * 40), str(out / "x"))
    assert proc.returncode != 0 and "RevisionNotFound" in proc.stderr


def _pin_params(tmp_path: Path) -> Path:
    text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    data["model"].update(source="hub", name=MODEL_REPO, revision=None)
    for name in ("xnli", "pawsx", "udpos"):
        data["tasks"][name] = {"source": "hub"}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_pin_resolves_against_the_emulator(hub, tmp_path):
    """`xstilts pin` asks the emulated hub: the registry pins resolve to themselves, the
    unpinned UD repo and the model to their main commit; params.yaml gets exactly those."""
    from xstilts.core.params import load_params
    from xstilts.tasks import get_task

    params = _pin_params(tmp_path)
    proc = run_py(hub.url, tmp_path, "-c", CLI, "pin", "--params", str(params),
                  "--tasks", "xnli,pawsx,udpos,model")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    p = load_params(params)
    assert p.tasks["xnli"].revision == get_task("xnli").hub.revision
    assert p.tasks["pawsx"].revision == get_task("pawsx").hub.revision
    ud = SCHEMAS["universal-dependencies/universal_dependencies"].repo
    assert p.tasks["udpos"].revision == fake_sha(ud, "main")
    assert p.model.revision == MODEL_SHA


def test_pin_reports_a_wrong_sha(tmp_path, model_repo):
    """A registry sha the hub does not know (here: XNLI served at another commit) is reported
    as such by `xstilts pin`, and params.yaml is left byte-identical."""
    xnli = SCHEMAS["facebook/xnli"]
    repos = [r for r in all_dataset_repos() if r.repo_id != xnli.repo]
    moved = next(r for r in all_dataset_repos() if r.repo_id == xnli.repo)
    moved = dataclasses.replace(moved, commits={}, refs={})
    original = next(r for r in all_dataset_repos() if r.repo_id == xnli.repo)
    moved.add_commit("e" * 40, next(iter(original.commits.values())).files, "main")
    params = _pin_params(tmp_path)
    raw = params.read_bytes()
    with HubEmulator([*repos, moved, model_repo]) as emulator:
        proc = run_py(emulator.url, tmp_path, "-c", CLI, "pin", "--params",
                      str(params), "--tasks", "xnli", "--dry-run")
    assert proc.returncode == 1
    from xstilts.tasks import get_task

    assert f"revision {get_task('xnli').hub.revision!r} not found" in proc.stderr, proc.stderr
    assert params.read_bytes() == raw


SCHEMA_REPOS = "Rowan/hellaswag,allenai/cosmos_qa"  # a Parquet repo and a loading-script one


def test_hub_schemas_match_what_the_hub_serves(hub, tmp_path):
    """`xstilts hub-schemas` reads each repo's features through `datasets` and finds ours."""
    proc = run_py(hub.url, tmp_path, "-c", CLI, "hub-schemas", "--repos", SCHEMA_REPOS)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "every schema matches the hub" in proc.stdout
    assert proc.stdout.count("  theirs: ") >= 2


def test_hub_schemas_fail_on_a_changed_schema(tmp_path):
    """A column renamed on the hub and a split gone are reported, exit 1."""
    def rename(config, split, features, rows):
        first = next(iter(features))
        features = features.copy()
        features["renamed"] = features.pop(first)
        return features, [{("renamed" if k == first else k): v for k, v in r.items()}
                          for r in rows]

    with HubEmulator(all_dataset_repos({"Rowan/hellaswag": rename})) as emulator:
        proc = run_py(emulator.url, tmp_path, "-c", CLI, "hub-schemas", "--repos",
                      "Rowan/hellaswag")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "the hub differs" in proc.stderr and "'renamed'" in proc.stderr


def test_a_flat_mewslix_copy_is_refused_clearly(tmp_path):
    """izhx/mewsli-x may publish flat rows (its author's evaluation script reads columns
    `mention` / `entity_id`): a language config without the official records' columns stops
    the load with the columns it found and the local-files way out."""
    from datasets import Features, Value

    def flatten(config, split, features, rows):
        if config == "candidate_entities":
            return features, rows
        return Features({"mention": Value("string"), "entity_id": Value("string")}), [
            {"mention": m["mention_span"]["text"], "entity_id": m["entity_id"]}
            for r in rows for m in r["mentions"]]

    with HubEmulator(all_dataset_repos({"izhx/mewsli-x": flatten})) as emulator:
        result = load_all(emulator.url, tmp_path, "mewslix")["mewslix"]
    assert result.get("error", "").startswith("HubSourceError: izhx/mewsli-x@"), result
    assert "['mention', 'entity_id']" in result["error"]
    assert "tasks.mewslix.source: local" in result["error"]
