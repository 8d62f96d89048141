"""Prepared-data fingerprints: what the stages reading prepared data depend on in dvc.yaml."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xstilts.core import data
from xstilts.core.fingerprint import data_fingerprint, write_data_fingerprint
from xstilts.core.params import parse_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """xcat_pair prepared twice, into a/ and b/."""
    tmp = tmp_path_factory.mktemp("fp")
    p = parse_params((ROOT / "params.yaml").read_text())
    for root in ("a", "b"):
        data.prepare_task("xcat_pair", p.tasks["xcat_pair"], tmp / root / "xcat_pair", seed=0)
    return tmp


def test_fingerprint_is_deterministic_and_content_sensitive(prepared, tmp_path):
    fa = data_fingerprint("xcat_pair", prepared / "a")
    # the same task prepared twice: the same bytes (else a no-op repro would re-run everything)
    assert fa == data_fingerprint("xcat_pair", prepared / "b")
    assert fa["files"] > 10 and fa["bytes"] > 0 and len(fa["sha256"]) == 64

    c = tmp_path / "c"
    shutil.copytree(prepared / "a", c)
    arrow = sorted((c / "xcat_pair" / "de" / "test").glob("*.arrow"))[0]
    raw = bytearray(arrow.read_bytes())
    raw[-20] ^= 1  # one bit of one Arrow file
    arrow.write_bytes(bytes(raw))
    assert data_fingerprint("xcat_pair", c)["sha256"] != fa["sha256"]

    d = tmp_path / "d"
    shutil.copytree(prepared / "a", d)
    (d / "xcat_pair" / "de").rename(d / "xcat_pair" / "dx")  # same bytes, another name
    assert data_fingerprint("xcat_pair", d)["sha256"] != fa["sha256"]


def test_write_data_fingerprint(prepared, tmp_path):
    out = write_data_fingerprint("xcat_pair", prepared / "a", tmp_path / "fingerprints")
    assert out == tmp_path / "fingerprints" / "xcat_pair.json"
    assert json.loads(out.read_text()) == data_fingerprint("xcat_pair", prepared / "a")
    assert [f.name for f in out.parent.iterdir()] == ["xcat_pair.json"]  # no temporary left
    with pytest.raises(FileNotFoundError, match=r"prepare_data@cldr_qa"):
        write_data_fingerprint("cldr_qa", prepared / "a", tmp_path / "fingerprints")


def test_stage_script_writes_fingerprint(tmp_path):
    """`pipeline/prepare_data.py` writes data/fingerprints/<task>.json of what it prepared."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["tasks"]["xcat_pair"] = {"source": "embedded", "max_train": 24, "max_eval": 8}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    out = subprocess.run([sys.executable, str(ROOT / "pipeline/prepare_data.py"), "xcat_pair"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    fp = json.loads((tmp_path / "data/fingerprints/xcat_pair.json").read_text())
    assert fp == data_fingerprint("xcat_pair", tmp_path / "data/prepared")


def test_dvc_yaml_depends_on_fingerprints_not_data_folders():
    """Only prepare_data names data/prepared (its out); every reader of prepared data depends
    on the fingerprints, which prepare_data writes as an out next to it."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]

    def paths(entries):
        return [next(iter(e)) if isinstance(e, dict) else e for e in entries or []]

    for name, st in stages.items():
        body = st.get("do", st)
        deps = paths(body.get("deps"))
        assert not [d for d in deps if d.startswith("data/prepared")], (name, deps)
        if name != "prepare_data":
            assert not [o for o in paths(body.get("outs")) if o.startswith("data/")], name
    prep = stages["prepare_data"]["do"]
    assert paths(prep["outs"]) == ["data/prepared/${key}", "data/fingerprints/${key}.json"]
    readers = {n for n, st in stages.items()
               if any(d.startswith("data/fingerprints") for d in paths(st.get("do", st)["deps"]))}
    assert readers >= {"prepare_model", "intermediate", "target", "retrieve",
                       "volume_intermediate", "volume_target",
                       "multilingual_intermediate", "multilingual_target",
                       "scaling_model", "scaling_intermediate", "scaling_target", "study"}
