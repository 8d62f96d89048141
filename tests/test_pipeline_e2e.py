"""End to end: `dvc repro` in a temporary copy of the repo on a tiny random encoder.

Checks the report, per-language metrics in MLflow, that a second repro is a no-op, and that
changing one intermediate task's hyperparameter re-runs only that task and what depends on it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.test_cell import small_params

ROOT = Path(__file__).resolve().parents[1]
DVC = str(Path(sys.executable).with_name("dvc"))


def run(cmd: list[str], cwd: Path) -> str:
    # stage commands call `python`: make it this interpreter's environment
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    # stages run as they do for a user: in the warm stage host once it is up
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": path, "XSTILTS_STAGE_HOST": "1",
           "XSTILTS_STAGE_HOST_IDLE": "15"}
    env.pop("MLFLOW_TRACKING_URI", None)
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1500)
    if out.returncode != 0:
        raise AssertionError(f"{cmd} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return out.stdout + out.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory, tiny_encoder_dir) -> Path:
    tmp = tmp_path_factory.mktemp("repo")
    for name in ("dvc.yaml", "pipeline", "src", ".dvcignore"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, tmp / name)
    run(["git", "init", "-q"], tmp)
    run([DVC, "init", "-q"], tmp)
    run([DVC, "config", "core.analytics", "false"], tmp)
    raw = small_params(tiny_encoder_dir, tmp)
    raw["tracking"]["uri"] = "sqlite:///mlflow.db"
    (tmp / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return tmp


def test_dvc_repro_end_to_end(repo):
    run([DVC, "repro"], repo)
    report = (repo / "reports" / "results.md").read_text()
    for row in ("| none |", "| cldr_region |"):
        assert row in report
    res = json.loads((repo / "metrics/eval/cldr_region/xcat_pair/seed0.json").read_text())
    assert len([lang for lang in res["languages"] if lang != "en"]) >= 5
    counts = json.loads((repo / "metrics/data/xcat_pair.json").read_text())
    assert counts["train"] == {"en": 48}
    # what the readers of the prepared data depend on (dvc.yaml): its fingerprint, up to date
    from xstilts.core.fingerprint import data_fingerprint

    fp = json.loads((repo / "data/fingerprints/xcat_pair.json").read_text())
    assert fp == data_fingerprint("xcat_pair", repo / "data/prepared")

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name("xstilts")
    parents = client.search_runs([exp.experiment_id], "tags.phase = 'intermediate'")
    assert {r.data.tags["itask"] for r in parents} == {"none", "cldr_region"}
    children = client.search_runs([exp.experiment_id], "tags.phase = 'target'")
    parent_ids = {r.info.run_id for r in parents}
    assert len(children) == 4
    assert all(r.data.tags["mlflow.parentRunId"] in parent_ids for r in children)
    assert any("xcat_tag/f1/zh" in r.data.metrics for r in children)
    sig = client.search_runs([exp.experiment_id], "tags.phase = 'significance'")
    assert {(r.data.tags["itask"], r.data.tags["target"]) for r in sig} >= {
        ("cldr_region", "xcat_pair"), ("cldr_region", "avg")}
    assert all({"gain", "ci_low", "ci_high", "p"} <= set(r.data.metrics) for r in sig)
    sub = repo / "submission/cldr_region/seed0"
    assert (sub / "xcat_pair/test-de.tsv").is_file() and (sub / "xcat_tag/test-zh.tsv").is_file()
    assert (sub / "xname_retrieval/test-de.tsv").is_file()
    for study in ("complexity", "typology"):  # the studies switched on in params.yaml
        assert (repo / f"reports/studies/{study}.md").read_text().startswith("#")
        assert (repo / f"reports/studies/{study}.png").is_file()

    # a second repro does nothing, and the pipeline's state is clean
    out = run([DVC, "repro"], repo)
    assert "Running stage" not in out, out
    assert "up to date" in run([DVC, "status"], repo)

    # an edit to the report code (or a study's analysis) leaves every training and evaluation
    # stage up to date: the analysis package is a dependency of `report` and `study@*` only
    for module in ("report.py", "studies/volume.py"):
        with open(repo / "src/xstilts/analysis" / module, "a") as fh:
            fh.write("# an edit that changes nothing a training stage runs\n")
    stale = set(json.loads(run([DVC, "status", "--json"], repo) or "{}"))
    assert stale == {"report", "study@complexity", "study@typology"}, stale
    out = run([DVC, "repro"], repo)
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    assert ran == stale, ran
    # an edit to the training core makes the training stages stale
    with open(repo / "src/xstilts/core/train.py", "a") as fh:
        fh.write("# a training-core edit\n")
    stale = set(json.loads(run([DVC, "status", "--json"], repo) or "{}"))
    assert "target@cldr_region-xcat_pair-0" in stale and "intermediate@cldr_region-0" in stale
    run([DVC, "commit", "-f", "-q"], repo)  # nothing the edit changes: keep the outputs

    # one intermediate hyperparameter changes: only that task's cells re-run
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["intermediate"]["hparams"]["cldr_region"]["lr"] = 1e-4
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    out = run([DVC, "repro"], repo)
    stages = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    # (report, export and the study analyses re-run only if the new predictions/metrics differ,
    # which a tiny random model may not do)
    optional = {"report", "export@cldr_region-0", "study@complexity", "study@typology"}
    assert stages - optional == {
        "intermediate@cldr_region-0",
        "target@cldr_region-xcat_pair-0", "target@cldr_region-xcat_tag-0",
        "retrieve@cldr_region-xname_retrieval-0",
    }, stages
    assert "up to date" in run([DVC, "status"], repo)
