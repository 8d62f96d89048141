"""`xstilts tune`: Optuna search on the English dev set, MLflow trial runs, params.yaml rewrite.

Tiny random encoder, 32 train / 16 dev examples, one epoch with two dev evaluations per trial.
PostgreSQL: set XSTILTS_TEST_POSTGRES_URL (e.g. postgresql://xstilts@127.0.0.1:5432/xstilts_test)
to run the two-worker test on it as well.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from tests.test_cell import small_params
from tests.workdir import prepared
from xstilts import tune
from xstilts.core import cell, data, families
from xstilts.core.params import ParamsError, TuneParams, parse_params

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["cldr_region", "xcat_pair"]
HP = {"epochs": 1, "max_length": 32, "batch_size": 16, "evals_per_epoch": 2}
TUNE = {
    "sampler": {"seed": 0, "n_startup_trials": 2},
    "pruner": {"n_startup_trials": 1, "n_warmup_steps": 0},
    "objective": {"split": "dev", "lang": "en"},
    "heartbeat_interval": 1, "grace_period": 2, "max_retry": 1,
    "space": {"lr": {"low": 1.0e-5, "high": 1.0e-2}, "batch_size": [8, 16], "epochs": [1],
              "warmup_ratio": {"low": 0.0, "high": 0.2},
              "weight_decay": {"low": 0.0, "high": 0.1}},
}


def tune_params(encoder_dir: Path, tmp: Path) -> dict:
    raw = small_params(encoder_dir, tmp)
    raw["tasks"] = {t: {"source": "embedded", "max_train": 32, "max_eval": 16} for t in TASKS}
    raw["intermediate"] = {"tasks": ["none", "cldr_region"],
                           "hparams": {"none": None, "cldr_region": dict(HP)}}
    raw["target"] = {"tasks": ["xcat_pair"], "hparams": {"xcat_pair": dict(HP)}}
    raw["evaluate"] = {"batch_size": 32, "retrieval_tasks": []}
    raw["runtime"]["threads"] = 1
    raw["tune"] = {**copy.deepcopy(TUNE), "storage": f"sqlite:///{tmp / 'optuna.db'}"}
    return raw


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_encoder_dir):
    """Prepared data, trimmed base model and the `none` intermediate checkpoint."""
    tmp = tmp_path_factory.mktemp("tune")
    raw = tune_params(tiny_encoder_dir, tmp)
    (tmp / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    with prepared(tmp, raw) as (p, _):
        families.run_stage(p, "intermediate", "none", 0)  # models/intermediate/none/seed0
        yield tmp, p


def _study(p, name: str, url: str | None = None):
    import optuna

    return optuna.load_study(study_name=name, storage=tune.make_storage(url or p.tune.storage,
                                                                        p.tune))


def _mlflow_runs(p, study: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(p.tracking.uri)
    exp = client.get_experiment_by_name(f"{p.tracking.experiment}-tune")
    runs = client.search_runs([exp.experiment_id], f"tags.study = '{study}'")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return client, parents, children


# ---- configuration ----

@pytest.mark.parametrize("objective", [{"split": "dev", "lang": "de"},
                                       {"split": "test", "lang": "en"},
                                       {"split": "dev", "lang": "zh"}])
def test_non_english_objective_is_rejected(tmp_path, tiny_encoder_dir, objective):
    raw = tune_params(tiny_encoder_dir, tmp_path)
    raw["tune"]["objective"] = objective
    with pytest.raises(ParamsError, match=r"tune\.objective: .*must be the English dev set"):
        parse_params(yaml.safe_dump(raw))
    # even if validation were bypassed, the tuner refuses to select on it
    tp = TuneParams.model_construct(objective=TuneParams().objective.model_construct(**objective))
    with pytest.raises(data.ZeroShotViolation, match="English dev set"):
        tune.objective_split(tp)


def test_non_english_objective_stops_the_command(tmp_path, tiny_encoder_dir, capsys):
    from xstilts.cli import main

    raw = tune_params(tiny_encoder_dir, tmp_path)
    raw["tune"]["objective"]["lang"] = "de"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(SystemExit) as e:
        main(["tune", "--phase", "target", "--task", "xcat_pair", "--trials", "1",
              "--params", str(path)])
    assert e.value.code == 2
    assert "English dev set" in capsys.readouterr().err


@pytest.mark.parametrize("space, match", [
    ({"lr": {"low": 1e-3, "high": 1e-4}}, "must not exceed"),
    ({"lr": {"low": 0.0, "high": 1e-4}}, "log-uniform"),
    ({"batch_size": []}, "non-empty"),
    ({"warmup_ratio": {"low": 0.0, "high": 1.5}}, r"\[0, 1\)"),
    ({"momentum": {"low": 0.0, "high": 1.0}}, "unknown key; allowed: lr, batch_size"),
])
def test_search_space_is_validated(tmp_path, tiny_encoder_dir, space, match):
    raw = tune_params(tiny_encoder_dir, tmp_path)
    raw["tune"]["space"].update(space)
    with pytest.raises(ParamsError, match=match):
        parse_params(yaml.safe_dump(raw))


def test_repository_params_have_a_valid_search_space():
    from xstilts.core.params import load_params

    tp = load_params(ROOT / "params.yaml").tune
    assert tp.storage == "sqlite:///optuna.db"
    assert (tp.objective.split, tp.objective.lang) == ("dev", "en")
    assert tp.space.lr is not None and tp.space.batch_size and tp.space.epochs is not None


def test_bad_requests_say_what_to_do(workdir, monkeypatch):
    tmp, p = workdir
    monkeypatch.chdir(tmp)
    with pytest.raises(tune.TuneError, match=r"dvc repro intermediate@cldr_region-0"):
        tune.run_tune(p, "target", "xcat_pair", itask="cldr_region", trials=1)
    with pytest.raises(tune.TuneError, match="baseline"):
        tune.run_tune(p, "intermediate", "none", trials=1)
    with pytest.raises(tune.TuneError, match="not a target task"):
        tune.run_tune(p, "target", "cldr_region", trials=1)
    with pytest.raises(tune.TuneError, match="not found"):  # nothing to report or apply
        tune.run_tune(p, "target", "xcat_pair", trials=0, study="never-run", apply=True)


# ---- search, resume, MLflow, pruning ----

def test_resume_continues_the_study_with_nested_mlflow_runs(workdir, monkeypatch):
    tmp, p = workdir
    monkeypatch.chdir(tmp)
    data.READ_LOG.clear()
    first = tune.run_tune(p, "target", "xcat_pair", trials=2, study="resume")
    assert len(first["trials"]) == 2
    second = tune.run_tune(p, "target", "xcat_pair", trials=2, study="resume")
    study = _study(p, "resume")
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)
    assert second["counts"]["COMPLETE"] + second["counts"]["PRUNED"] == 4
    # trial 0 is the task's current hyperparameters; then sampled ones, reseeded per trial
    # number: the resumed run does not repeat the first configurations
    hp = p.target.hparams["xcat_pair"]
    assert study.trials[0].params == {k: getattr(hp, k) for k in study.trials[0].params}
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 4
    # the pruner is fed at every English dev evaluation (step = evaluation index)
    assert all(set(t.intermediate_values) == {1, 2}
               for t in study.trials if t.state.name == "COMPLETE")
    assert {(lang, purpose) for _, lang, _, purpose in data.READ_LOG} <= {
        ("en", "train"), ("en", "select")}

    client, parents, children = _mlflow_runs(p, "resume")
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    by_number = {int(r.data.tags["trial_number"]): r for r in children}
    for t in study.trials:
        run = by_number[t.number]
        assert run.data.tags["trial_state"] == t.state.name
        assert (run.data.tags.get("baseline") == "true") == (t.number == 0)
        assert float(run.data.params["hparams.lr"]) == pytest.approx(t.params["lr"])
        assert run.data.params["hparams.batch_size"] == str(t.params["batch_size"])
        curve = client.get_metric_history(run.info.run_id, "dev/acc")
        assert [m.step for m in curve] == sorted(t.intermediate_values)
        assert [m.value for m in curve] == [t.intermediate_values[s] for s in sorted(
            t.intermediate_values)]
    best = study.best_trial
    assert parent.data.metrics["best_value"] == pytest.approx(best.value)
    assert parent.data.tags["best_trial"] == str(best.number)
    assert parent.data.params["objective.lang"] == "en"
    saved = yaml.safe_load((tmp / "tune" / "resume.best.yaml").read_text())
    assert saved["best_trial"] == best.number and saved["best_params"] == best.params
    assert saved["params_key"] == "target.hparams.xcat_pair"


def test_applied_best_trial_is_what_the_dvc_stage_retrains(workdir, monkeypatch):
    """--apply writes the best values; the target stage then reproduces the best dev score."""
    tmp, p = workdir
    monkeypatch.chdir(tmp)
    params_copy = tmp / "params.applied.yaml"
    params_copy.write_text((tmp / "params.yaml").read_text())
    summary = tune.run_tune(p, "target", "xcat_pair", trials=1, study="apply", apply=True,
                            params_path=params_copy)
    best = summary["best"]
    p2 = parse_params(params_copy.read_text())
    hp = p2.target.hparams["xcat_pair"]
    for key, value in best["params"].items():
        assert getattr(hp, key) == value
    result = cell.run_target(*families.resolve(p2, "target", ["none", "xcat_pair", "0"]))
    assert result["best_dev"] == pytest.approx(best["value"], abs=1e-9)


def test_pruned_trials_are_recorded(workdir, monkeypatch):
    import optuna

    tmp, p = workdir
    monkeypatch.chdir(tmp)
    monkeypatch.setattr(optuna.trial.Trial, "should_prune", lambda self: True)
    summary = tune.run_tune(p, "target", "xcat_pair", trials=2, study="pruned")
    assert summary["counts"]["PRUNED"] == 2 and summary["best"] is None
    study = _study(p, "pruned")
    assert all(len(t.intermediate_values) == 1 for t in study.trials)  # stopped at evaluation 1
    client, parents, children = _mlflow_runs(p, "pruned")
    assert len(children) == 2
    for run in children:
        assert run.data.tags["trial_state"] == "PRUNED"
        assert run.info.status == "KILLED"
        assert len(client.get_metric_history(run.info.run_id, "dev/acc")) == 1
    assert parents[0].data.metrics["trials_pruned"] == 2
    # the last dev evaluation is never pruned: the trial has finished training by then
    hp = p.target.hparams["xcat_pair"].model_copy(update={"evals_per_epoch": 1})
    p1 = p.model_copy(update={"target": p.target.model_copy(update={"hparams": {"xcat_pair": hp}})})
    summary = tune.run_tune(p1, "target", "xcat_pair", trials=1, study="single-eval")
    assert summary["counts"]["COMPLETE"] == 1


def test_baseline_trial_only_inside_the_space():
    from xstilts.core.params import TrainHParams, TuneSpace

    hp = TrainHParams(lr=1e-4, batch_size=32, epochs=3, warmup_ratio=0.1, weight_decay=0.01)
    space = TuneSpace(lr={"low": 1e-5, "high": 1e-3}, batch_size=[16, 32],
                      epochs={"low": 1, "high": 3}, warmup_ratio={"low": 0, "high": 0.2})
    assert tune.baseline_params(hp, space) == {"lr": 1e-4, "batch_size": 32, "epochs": 3,
                                               "warmup_ratio": 0.1}
    assert tune.baseline_params(hp, space.model_copy(update={"batch_size": [8, 16]})) is None
    assert tune.baseline_params(hp.model_copy(update={"epochs": 2.5}), space) is None


def test_median_pruner_prunes_a_bad_trial(workdir):
    """The configured pruner: a trial below the median of finished trials at a step is pruned."""
    import optuna

    _, p = workdir
    study = optuna.create_study(direction="maximize", pruner=tune.make_pruner(p.tune))
    for value in (80.0, 90.0):
        t = study.ask()
        t.report(value, 1)
        study.tell(t, value)
    bad = study.ask()
    bad.report(10.0, 1)
    assert bad.should_prune()


def test_intermediate_phase_search(workdir, monkeypatch):
    tmp, p = workdir
    monkeypatch.chdir(tmp)
    summary = tune.run_tune(p, "intermediate", "cldr_region", trials=1)
    assert summary["study"] == "intermediate-cldr_region-seed0"
    assert summary["params_key"] == "intermediate.hparams.cldr_region"
    assert summary["counts"]["COMPLETE"] == 1


def test_interrupted_trial_is_failed_and_queued_again(workdir, monkeypatch):
    """Ctrl-C / SIGTERM during a trial: FAIL at once, its configuration runs first on resume."""
    from xstilts.core import cell

    tmp, p = workdir
    monkeypatch.chdir(tmp)
    real = cell.train_task

    def interrupted(*args, on_eval, **kwargs):
        def interrupt(point):
            on_eval(point)
            raise KeyboardInterrupt

        return real(*args, on_eval=interrupt, **kwargs)

    monkeypatch.setattr(cell, "train_task", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tune.run_tune(p, "target", "xcat_pair", trials=3, study="interrupted")
    first, queued = _study(p, "interrupted").trials
    assert (first.state.name, queued.state.name) == ("FAIL", "WAITING")
    assert queued.params == first.params
    monkeypatch.setattr(cell, "train_task", real)
    tune.run_tune(p, "target", "xcat_pair", trials=1, study="interrupted")
    rerun = _study(p, "interrupted").trials[1]
    assert rerun.state.name in ("COMPLETE", "PRUNED") and rerun.params == first.params
    _, _, children = _mlflow_runs(p, "interrupted")
    runs = {int(r.data.tags["trial_number"]): r for r in children}
    assert runs[0].data.tags["trial_state"] == "FAIL"
    assert "interrupted" in runs[0].data.tags["fail_reason"]
    assert runs[1].data.tags["retry_of"] == "0"


# ---- several workers, killed workers ----

# A worker that stops (sleeps) right after its first trial reports an intermediate value, so a
# test can kill it while that trial is RUNNING: a short trial could otherwise finish between the
# test seeing it RUNNING and the kill.
_HANG_AFTER_REPORT = """
import optuna, time
_report = optuna.trial.Trial.report
def _report_then_hang(self, *args, **kwargs):
    _report(self, *args, **kwargs)
    time.sleep(3600)
optuna.trial.Trial.report = _report_then_hang
"""


def _worker(tmp: Path, study: str, trials: int, storage: str | None = None,
            hang_after_report: bool = False) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    code = "import sys; from xstilts.cli import main; sys.exit(main())"
    if hang_after_report:
        code = _HANG_AFTER_REPORT + code
    cmd = [sys.executable, "-c", code,
           "tune", "--phase", "target", "--task", "xcat_pair", "--trials", str(trials),
           "--study", study, "--params", str(tmp / "params.yaml")]
    if storage:
        cmd += ["--storage", storage]
    return subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _two_workers(workdir, storage: str | None, study: str) -> None:
    tmp, p = workdir
    procs = [_worker(tmp, study, 2, storage) for _ in range(2)]
    outs = [proc.communicate(timeout=600)[0] for proc in procs]
    for proc, out in zip(procs, outs, strict=True):
        assert proc.returncode == 0, out[-4000:]
    trials = _study(p, study, storage).trials
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials), trials
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4
    _, parents, children = _mlflow_runs(p, study)
    assert len(parents) == 1
    assert sorted(int(r.data.tags["trial_number"]) for r in children) == [0, 1, 2, 3]
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    assert {r.data.tags["trial_state"] for r in children} <= {"COMPLETE", "PRUNED"}


def test_two_workers_share_a_sqlite_study(workdir, tmp_path):
    _two_workers(workdir, f"sqlite:///{tmp_path / 'shared.db'}", "two-workers")


@pytest.mark.skipif(not os.environ.get("XSTILTS_TEST_POSTGRES_URL"),
                    reason="set XSTILTS_TEST_POSTGRES_URL to a PostgreSQL database to run it")
def test_two_workers_share_a_postgres_study(workdir):
    import optuna

    url = os.environ["XSTILTS_TEST_POSTGRES_URL"]
    study = f"two-workers-{uuid.uuid4().hex[:8]}"
    try:
        _two_workers(workdir, url, study)
    finally:
        optuna.delete_study(study_name=study, storage=url)


def test_killed_worker_trial_is_failed_and_retried(workdir, monkeypatch):
    tmp, p = workdir
    monkeypatch.chdir(tmp)
    import optuna

    proc = _worker(tmp, "killed", 1, hang_after_report=True)
    storage = tune.make_storage(p.tune.storage, p.tune)
    deadline = time.monotonic() + 300
    victim = None
    try:
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            try:
                study = optuna.load_study(study_name="killed", storage=storage)
            except KeyError:  # the study does not exist yet
                continue
            trials = study.get_trials(deepcopy=False)
            victim = next((t for t in trials if t.state.name == "RUNNING"
                           and tune.RUN_ATTR in t.user_attrs and t.intermediate_values), None)
    finally:
        proc.kill()
        out = proc.communicate()[0]
    assert victim is not None, out[-4000:]
    time.sleep(p.tune.grace_period + 1.5)  # the killed trial's heartbeat is now stale
    tune.run_tune(p, "target", "xcat_pair", trials=1, study="killed")
    trials = {t.number: t for t in _study(p, "killed").trials}
    assert trials[victim.number].state.name == "FAIL"
    retry = trials[max(trials)]
    assert retry.user_attrs[tune.NUMBER_ATTR] == retry.number
    assert retry.params == victim.params and retry.state.name in ("COMPLETE", "PRUNED")
    client, _, children = _mlflow_runs(p, "killed")
    runs = {int(r.data.tags["trial_number"]): r for r in children}
    assert runs[victim.number].data.tags["trial_state"] == "FAIL"
    assert "heartbeat" in runs[victim.number].data.tags["fail_reason"]
    assert runs[retry.number].data.tags["retry_of"] == str(victim.number)
    assert not [t for t in trials.values() if t.state.name == "RUNNING"]


# ---- params.yaml rewrite ----

VALUES = {"lr": 1.2345678901234e-05, "batch_size": 16, "epochs": 2, "warmup_ratio": 0.05,
          "weight_decay": 0.0}


def _changed_lines(a: str, b: str) -> list[int]:
    la, lb = a.splitlines(), b.splitlines()
    assert len(la) == len(lb)
    return [i for i, (x, y) in enumerate(zip(la, lb, strict=True)) if x != y]


def test_params_rewrite_keeps_everything_but_the_tuned_keys(tmp_path):
    path = tmp_path / "params.yaml"
    text = (ROOT / "params.yaml").read_text()
    path.write_text(text)
    tune.apply_best(path, "target", "xcat_pair", VALUES)
    new = path.read_text()
    p = parse_params(new)  # still valid
    hp = p.target.hparams["xcat_pair"]
    assert {k: getattr(hp, k) for k in VALUES} == VALUES
    before, after = yaml.safe_load(text), yaml.safe_load(new)
    before["target"]["hparams"]["xcat_pair"].update(VALUES)
    assert after == before  # nothing else changed
    lines = text.splitlines()
    entry = next(i for i, line in enumerate(lines) if line.strip().startswith("xcat_pair: {lr"))
    assert set(_changed_lines(text, new)) <= {entry, entry + 1}  # only the entry's lines
    assert "lr: 1.2345678901234e-05" in new
    comments = [line.split("#", 1)[1] for line in lines if "#" in line]
    assert comments == [line.split("#", 1)[1] for line in new.splitlines() if "#" in line]


def test_applied_values_show_in_dvc_params_diff(tmp_path):
    import json

    for name in ("params.yaml", "dvc.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    dvc = str(Path(sys.executable).with_name("dvc"))
    for cmd in (["git", "init", "-q"], [dvc, "init", "-q"], ["git", "add", "-A"],
                ["git", "commit", "-qm", "params"]):
        subprocess.run(cmd, cwd=tmp_path, env=env, check=True, capture_output=True)
    tune.apply_best(tmp_path / "params.yaml", "target", "xcat_pair", VALUES)
    out = subprocess.run([dvc, "params", "diff", "--json"], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True).stdout
    diff = json.loads(out)["params.yaml"]
    old = yaml.safe_load((ROOT / "params.yaml").read_text())["target"]["hparams"]["xcat_pair"]
    expected = {f"target.hparams.xcat_pair.{k}": v for k, v in VALUES.items() if old[k] != v}
    assert {k: d["new"] for k, d in diff.items()} == expected


def test_params_rewrite_block_style_and_missing_keys(tmp_path):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["target"]["hparams"]["xcat_pair"] = {"lr": 1.0e-4, "max_length": 32}
    raw["target"]["hparams"]["xcat_tag"] = {}
    text = yaml.safe_dump(raw, sort_keys=False, default_flow_style=False)
    text = text.replace("xcat_tag: {}", "xcat_tag: {}   # defaults")
    new = tune.set_hparams_text(text, "target", "xcat_pair", VALUES)
    new = tune.set_hparams_text(new, "target", "xcat_tag", {"lr": 3.0e-5, "batch_size": 8})
    p = parse_params(new)
    assert {k: getattr(p.target.hparams["xcat_pair"], k) for k in VALUES} == VALUES
    assert p.target.hparams["xcat_pair"].max_length == 32
    assert p.target.hparams["xcat_tag"].batch_size == 8
    assert "xcat_tag: {lr: 3.0e-05, batch_size: 8}   # defaults" in new


def test_params_rewrite_refuses_invalid_values(tmp_path):
    text = (ROOT / "params.yaml").read_text()
    with pytest.raises(ParamsError, match="batch_size"):
        tune.set_hparams_text(text, "target", "xcat_pair", {"batch_size": 0})
    with pytest.raises(tune.TuneError, match="not found"):
        tune.set_hparams_text(text, "target", "xnli", {"lr": 1e-5})


def test_yaml_numbers_read_back_exactly():
    for v in (1e-05, 1.2345678901234e-05, 0.1, 3, 2.5e-4, 1e20, 0.0):
        text = tune.yaml_number(v)
        assert yaml.safe_load(f"x: {text}")["x"] == v and type(yaml.safe_load(text)) is type(v)
