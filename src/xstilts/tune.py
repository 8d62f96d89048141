"""Hyperparameter search with Optuna on the English dev set, tracked in MLflow, feeding DVC.

`xstilts tune --phase intermediate|target --task T [--intermediate I] [--seed S] --trials N`
samples the space of `params.yaml: tune.space`; each trial trains one phase exactly as the DVC
stage does (`cell.fit`, same seed, same initial checkpoint: `models/base` for the
intermediate phase, `models/intermediate/<I>/seed<S>` for the target phase) with the task's
`hparams` overridden by the sampled values, and scores the best English dev metric.

- Sampler: TPE seeded by `tune.sampler.seed`, its random state reseeded from (seed, trial
  number) before each trial, so a resumed tuner does not repeat the first trials and two
  workers started together do not sample the same configurations. With
  `tune.baseline_trial`, a new study's first trial is the task's current values (when they lie
  in the space), so the best trial is never worse on dev than params.yaml as it stands.
- Pruner: MedianPruner fed with the dev metric after every English dev evaluation; the step is
  the evaluation's index (1, 2, ...), which is comparable across batch sizes; the last
  evaluation is never pruned (the trial has finished training).
- Storage: an Optuna RDB storage (`tune.storage` / `--storage`, any SQLAlchemy URL). Starting the
  tuner again continues the same study; several workers (processes or machines) can share one
  study. Trials record a heartbeat: a trial left RUNNING by a killed worker is marked FAIL once
  its heartbeat is `tune.grace_period` seconds old (checked when any worker starts a trial) and
  its configuration is queued again (`RetryHeartbeatStaleTrialCallback`, `tune.max_retry`
  times). A tuner stopped by Ctrl-C / SIGTERM fails its current trial at once and queues it
  the same way.
- MLflow: experiment `<tracking.experiment>-tune`; one run per study (best value and params, trial
  counts) with one nested run per trial (hyperparameters, the step-wise dev curve `dev/*`, tag
  `trial_state` = COMPLETE / PRUNED / FAIL).
- Result: printed, written to `tune/<study>.best.yaml`, and with `--apply` written into the
  task's entry of params.yaml (only the tuned keys; comments and layout kept), so that
  `dvc repro` retrains with them and `dvc params diff` shows the change.

Only English is read: the objective must be `{split: dev, lang: en}` (params validation) and the
dev set is read through `data.load_split(..., purpose="select")`, which refuses other languages.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from xstilts.core.params import (
    BASELINE,
    Params,
    TrackingParams,
    TrainHParams,
    TuneIntRange,
    TuneParams,
    TuneSpace,
    parse_params,
)

log = logging.getLogger(__name__)

TUNE_DIR = Path("tune")
RUN_ATTR = "mlflow_run_id"  # trial / study user attribute: the MLflow run it logs to
IDENTITY_ATTR = "xstilts"  # study user attribute: what the study tunes
NUMBER_ATTR = "trial_number"  # trial user attribute (a retried trial inherits its original's)
BASELINE_ATTR = "baseline"  # trial user attribute: the task's current values from params.yaml
PARENT_WAIT = 30.0  # seconds a worker waits for the study's creator to open its MLflow run


class TuneError(RuntimeError):
    """A tuning request that cannot run; the message says why and what to do."""


@dataclass(frozen=True)
class TuneTarget:
    """What one study tunes: a phase, its task, and the cell (intermediate task, seed)."""

    phase: str  # intermediate | target
    task: str
    itask: str | None  # the intermediate checkpoint a target search starts from
    seed: int

    @property
    def hparams_key(self) -> str:
        return f"{self.phase}.hparams.{self.task}"

    @property
    def default_study(self) -> str:
        if self.phase == "intermediate":
            return f"intermediate-{self.task}-seed{self.seed}"
        return f"target-{self.itask}-{self.task}-seed{self.seed}"

    def init_dir(self) -> Path:
        from xstilts.core import paths

        if self.phase == "intermediate":
            return paths.BASE
        return paths.intermediate_dir(self.itask, self.seed)

    def identity(self, metric: str) -> dict:
        return {"phase": self.phase, "task": self.task, "intermediate": self.itask,
                "seed": self.seed, "metric": metric}


def resolve_target(p: Params, phase: str, task: str, itask: str | None = None,
                   seed: int | None = None) -> TuneTarget:
    """Check the request against params.yaml; a TuneError says what is wrong."""
    seed = p.seeds[0] if seed is None else int(seed)
    if phase == "intermediate":
        if itask is not None:
            raise TuneError("--intermediate only applies to --phase target (the intermediate "
                            "phase always starts from models/base)")
        trained = [t for t in p.intermediate.tasks if t != BASELINE]
        if task not in trained:
            raise TuneError(f"--task {task!r} is not a trained intermediate task in params.yaml; "
                            f"choose one of {trained} (the baseline {BASELINE!r} trains nothing)")
    elif phase == "target":
        itask = BASELINE if itask is None else itask
        if task not in p.target.tasks:
            raise TuneError(f"--task {task!r} is not a target task in params.yaml; choose one of "
                            f"{p.target.tasks}")
        if itask not in p.intermediate.tasks:
            raise TuneError(f"--intermediate {itask!r} is not in params.yaml intermediate.tasks "
                            f"{p.intermediate.tasks}")
    else:
        raise TuneError(f"--phase must be 'intermediate' or 'target', got {phase!r}")
    return TuneTarget(phase, task, itask, seed)


def objective_split(tp: TuneParams) -> tuple[str, str]:
    """(split, lang) of the objective; anything but English dev breaks the zero-shot rule."""
    from xstilts.core.data import TRAIN_LANG, ZeroShotViolation

    split, lang = tp.objective.split, tp.objective.lang
    if (split, lang) != ("dev", TRAIN_LANG):
        raise ZeroShotViolation(
            f"the tuning objective (model selection) must be the English dev set, got "
            f"{lang}/{split}: non-English and test data are for zero-shot evaluation only")
    return split, lang


def check_inputs(target: TuneTarget) -> None:
    """The prepared data and the initial checkpoint exist (they are DVC outputs)."""
    from xstilts.core import paths
    from xstilts.core.data import split_dir

    for split in ("train", "dev"):
        if not split_dir(paths.DATA, target.task, "en", split).is_dir():
            raise TuneError(f"{split_dir(paths.DATA, target.task, 'en', split)} not found: "
                            f"run `dvc repro prepare_data@{target.task}` first")
    init = target.init_dir()
    if (init / "encoder" / "config.json").is_file() or (init / "config.json").is_file():
        return
    if target.phase == "intermediate":
        raise TuneError(f"{init}: base model not found: run `dvc repro prepare_model` first")
    raise TuneError(
        f"{init}: intermediate checkpoint not found. The target search fine-tunes the checkpoint "
        f"that `dvc repro` produces: run `dvc repro intermediate@{target.itask}-{target.seed}` "
        "first")


def suggest(trial, space: TuneSpace) -> dict:
    """Sample the configured hyperparameters (keys set to null in the space are not sampled)."""
    out: dict = {}
    if space.lr is not None:
        out["lr"] = trial.suggest_float("lr", space.lr.low, space.lr.high, log=True)
    if space.batch_size is not None:
        out["batch_size"] = trial.suggest_categorical("batch_size", list(space.batch_size))
    if isinstance(space.epochs, TuneIntRange):
        out["epochs"] = trial.suggest_int("epochs", space.epochs.low, space.epochs.high,
                                          step=space.epochs.step)
    elif space.epochs is not None:
        out["epochs"] = trial.suggest_categorical("epochs", list(space.epochs))
    for name in ("warmup_ratio", "weight_decay"):
        rng = getattr(space, name)
        if rng is not None:
            out[name] = trial.suggest_float(name, rng.low, rng.high)
    return out


def baseline_params(base: TrainHParams, space: TuneSpace) -> dict | None:
    """The task's current values of the sampled keys, or None if one lies outside the space."""
    out: dict = {}
    for name in ("lr", "warmup_ratio", "weight_decay"):
        rng, value = getattr(space, name), getattr(base, name)
        if rng is not None:
            if not rng.low <= value <= rng.high:
                return None
            out[name] = value
    if space.batch_size is not None:
        if base.batch_size not in space.batch_size:
            return None
        out["batch_size"] = base.batch_size
    epochs = base.epochs
    if isinstance(space.epochs, TuneIntRange):
        e = space.epochs
        if not (float(epochs).is_integer() and e.low <= epochs <= e.high
                and (int(epochs) - e.low) % e.step == 0):
            return None
        out["epochs"] = int(epochs)
    elif space.epochs is not None:
        choice = next((c for c in space.epochs if c == epochs), None)
        if choice is None:
            return None
        out["epochs"] = choice
    return out


def trial_hparams(base: TrainHParams, sampled: dict) -> TrainHParams:
    """The task's hyperparameters from params.yaml with the sampled values overriding."""
    return TrainHParams.model_validate({**base.model_dump(), **sampled})


def base_hparams(p: Params, target: TuneTarget) -> TrainHParams:
    if target.phase == "intermediate":
        return p.intermediate_hparams(target.task)
    return p.target.hparams[target.task]


def make_sampler(tp: TuneParams):
    """TPE whose random state depends only on (seed, trial number)."""
    import numpy as np
    from optuna.samplers import TPESampler

    class TrialSeededTPESampler(TPESampler):
        def before_trial(self, study, trial) -> None:
            state = np.random.SeedSequence([tp.sampler.seed, trial.number]).generate_state(1)
            for holder in (self, getattr(self, "_random_sampler", None)):
                rng = getattr(holder, "_rng", None)  # optuna's LazyRandomState
                if rng is not None:
                    rng.rng.seed(int(state[0]))
            super().before_trial(study, trial)

    return TrialSeededTPESampler(seed=tp.sampler.seed,
                                 n_startup_trials=tp.sampler.n_startup_trials)


def make_pruner(tp: TuneParams):
    from optuna.pruners import MedianPruner

    return MedianPruner(n_startup_trials=tp.pruner.n_startup_trials,
                        n_warmup_steps=tp.pruner.n_warmup_steps)


def make_storage(url: str, tp: TuneParams, on_stale=None, attempts: int = 5):
    """Optuna RDB storage with heartbeats; sqlite waits up to 30 s for a concurrent writer."""
    import warnings

    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RDBStorage
    from sqlalchemy.exc import SQLAlchemyError

    if url.startswith("sqlite"):
        engine_kwargs: dict = {"connect_args": {"timeout": 30}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                return RDBStorage(url, engine_kwargs=engine_kwargs,
                                  heartbeat_interval=tp.heartbeat_interval,
                                  grace_period=tp.grace_period,
                                  heartbeat_stale_trial_callback=on_stale)
        except SQLAlchemyError:  # two workers creating the schema of a new database at once
            if attempt == attempts - 1:
                raise
            time.sleep(1 + attempt)
    raise AssertionError("unreachable")


def public_url(url: str) -> str:
    """The storage URL without its password (for logs and MLflow tags)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a SQLAlchemy URL: say nothing about it
        return re.sub(r"//[^@/]*@", "//***@", url)


class StudyTracker:
    """MLflow side of a study: the study run, one nested run per trial, state tags."""

    def __init__(self, tracking: TrackingParams, attempts: int = 5):
        from xstilts.core.tracking import Tracker

        tp = TrackingParams(uri=tracking.uri, experiment=f"{tracking.experiment}-tune")
        for attempt in range(attempts):
            try:  # two workers may create the experiment at the same time: the loser retries
                self.tracker = Tracker(tp)
                break
            except Exception:  # noqa: BLE001
                if attempt == attempts - 1:
                    raise
                time.sleep(1 + attempt)
        self.client = self.tracker.client
        self.parent: str | None = None

    def open_parent(self, study, created: bool, name: str, tags: dict, params: dict) -> str:
        """The study's MLflow run: opened by the worker that created the study, found by others."""
        if not created:
            deadline = time.monotonic() + PARENT_WAIT
            while True:
                run = study.user_attrs.get(RUN_ATTR)
                if run and self.tracker.exists(run):
                    self.client.update_run(run, status="RUNNING")
                    self.parent = run
                    return run
                if run or time.monotonic() > deadline:
                    break  # a deleted run, another tracking URI, or a creator killed early
                time.sleep(0.5)
        run = self.tracker.start(name, tags)
        self.tracker.log_params(run, params)
        study.set_user_attr(RUN_ATTR, run)
        if not created:  # a late race between two workers: both keep the last one written
            time.sleep(1.0)
            final = study.user_attrs.get(RUN_ATTR)
            if final != run and self.tracker.exists(final):
                self.client.delete_run(run)
                run = final
        self.parent = run
        return run

    def start_trial(self, trial, name: str, tags: dict, hp: TrainHParams) -> str:
        run = self.tracker.start(name, {**tags, "trial_number": str(trial.number),
                                        "trial_state": "RUNNING"}, parent=self.parent)
        trial.set_user_attr(RUN_ATTR, run)
        self.tracker.log_params(run, {"hparams": hp.model_dump(), "trial_number": trial.number})
        return run

    def end_trial(self, run: str, state: str, reason: str | None = None) -> None:
        """Tag the trial's Optuna state; MLflow status FINISHED / KILLED (pruned) / FAILED."""
        status = {"COMPLETE": "FINISHED", "PRUNED": "KILLED"}.get(state, "FAILED")
        self.client.set_tag(run, "trial_state", state)
        if reason:
            self.client.set_tag(run, "fail_reason", reason[:5000])
        self.client.set_terminated(run, status)

    def summarise(self, study, trial) -> None:
        """After each trial: best value / params and trial counts on the study run."""
        if self.parent is None:
            return
        from optuna.trial import TrialState

        trials = study.get_trials(deepcopy=False)
        counts = Counter(t.state.name for t in trials)
        metrics = {f"trials_{s.lower()}": counts.get(s, 0) for s in ("COMPLETE", "PRUNED", "FAIL")}
        done = [t for t in trials if t.state == TrialState.COMPLETE]
        if done:
            best = max(done, key=lambda t: (t.value, -t.number))
            metrics["best_value"] = best.value
            metrics.update({f"best/{k}": v for k, v in best.params.items()
                            if isinstance(v, int | float)})
            self.client.set_tag(self.parent, "best_trial", str(best.number))
            self.client.set_tag(self.parent, "best_params", json.dumps(best.params))
        self.tracker.log_metrics(self.parent, metrics, step=trial.number)

    def stale_callback(self, max_retry: int):
        """Heartbeat-stale trial (its worker was killed): tag its run FAIL, queue it again."""
        retry = _retry_callback(max_retry)

        def on_stale(study, trial) -> None:
            run = trial.user_attrs.get(RUN_ATTR)
            if run and self.tracker.exists(run):
                self.end_trial(run, "FAIL", "heartbeat lost: the worker running it was killed")
            log.warning("trial %d was left RUNNING by a killed worker: marked FAIL%s",
                        trial.number, "" if max_retry == 0 else ", configuration queued again")
            retry(study, trial)

        return on_stale

    def requeue_interrupted(self, study, trial, max_retry: int) -> None:
        """Ctrl-C / SIGTERM: queue the interrupted trial's configuration like a stale one."""
        frozen = next((t for t in study.get_trials(deepcopy=False) if t.number == trial.number),
                      None)
        if frozen is not None and frozen.params:
            _retry_callback(max_retry)(study, frozen)

    def finish(self) -> None:
        if self.parent is not None:
            self.client.set_terminated(self.parent)


def _retry_callback(max_retry: int):
    """Optuna's callback that queues a failed trial's configuration again (same params)."""
    import warnings

    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RetryHeartbeatStaleTrialCallback  # RetryFailedTrialCallback < 4.9

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        return RetryHeartbeatStaleTrialCallback(max_retry=max_retry)


def open_study(storage, name: str, sampler, pruner, create: bool = True) -> tuple:
    """(study, created): create the study, or load it when it exists (resume / another worker).

    This is `create_study(load_if_exists=True)`, except that the worker which really created the
    study learns it (the storage's unique study name decides), so it alone opens the MLflow run.
    With `create=False` a missing study is an error.
    """
    import optuna

    try:
        if not create:
            raise optuna.exceptions.DuplicatedStudyError
        study = optuna.create_study(storage=storage, study_name=name, sampler=sampler,
                                    pruner=pruner, direction="maximize")
        return study, True
    except optuna.exceptions.DuplicatedStudyError:
        try:
            study = optuna.load_study(study_name=name, storage=storage, sampler=sampler,
                                      pruner=pruner)
        except KeyError:
            raise TuneError(f"study {name!r} not found in {public_url(storage.url)}: run some "
                            "trials first (--trials N)") from None
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise TuneError(f"study {name!r} exists and minimises; choose another --study")
    return study, False


def _check_identity(study, name: str, identity: dict, created: bool) -> None:
    if created:
        study.set_user_attr(IDENTITY_ATTR, identity)
        return
    deadline = time.monotonic() + PARENT_WAIT
    found = study.user_attrs.get(IDENTITY_ATTR)
    while found is None and time.monotonic() < deadline:
        time.sleep(0.5)
        found = study.user_attrs.get(IDENTITY_ATTR)
    if found is None:
        study.set_user_attr(IDENTITY_ATTR, identity)
    elif found != identity:
        raise TuneError(f"study {name!r} in this storage tunes {found}, not {identity}: "
                        "choose another --study name")


def run_tune(p: Params, phase: str, task: str, *, trials: int, itask: str | None = None,
             seed: int | None = None, storage: str | None = None, study: str | None = None,
             apply: bool = False, params_path: Path | str = "params.yaml",
             out_dir: Path | str = TUNE_DIR) -> dict:
    """Run `trials` more trials of the study (create or continue it); return its summary."""
    import optuna

    from xstilts.core import paths
    from xstilts.core.cell import fit
    from xstilts.core.data import load_split
    from xstilts.tasks import get_task

    if trials < 0:
        raise TuneError("--trials must be >= 0")
    tp = p.tune
    split, lang = objective_split(tp)
    target = resolve_target(p, phase, task, itask, seed)
    check_inputs(target)
    the_task = get_task(target.task)
    metric = the_task.metric
    base = base_hparams(p, target)
    url = storage or tp.storage
    name = study or target.default_study

    st = StudyTracker(p.tracking)
    db = make_storage(url, tp, on_stale=st.stale_callback(tp.max_retry))
    the_study, created = open_study(db, name, make_sampler(tp), make_pruner(tp),
                                    create=trials > 0)
    identity = target.identity(metric)
    _check_identity(the_study, name, identity, created)
    baseline = baseline_params(base, tp.space)
    if created and tp.baseline_trial and baseline is not None:
        # the current params.yaml values compete too: the best trial is never worse on dev
        the_study.enqueue_trial(baseline, user_attrs={BASELINE_ATTR: True})
    tags = {"phase": "tune", "tune_phase": target.phase, "study": name, "task": target.task,
            "itask": str(target.itask), "seed": str(target.seed), "metric": metric,
            "optuna_storage": public_url(url)}
    st.open_parent(the_study, created, f"tune {name}", tags,
                   {"objective": {"split": split, "lang": lang, "metric": metric},
                    "sampler": tp.sampler.model_dump(), "pruner": tp.pruner.model_dump(),
                    "space": json.dumps(tp.space.model_dump()), "base_hparams": base.model_dump(),
                    "init": str(target.init_dir())})
    log.info("study %r in %s: %d trials so far; running %d more", name, public_url(url),
             len(the_study.trials), trials)

    data: dict = {}

    def objective(trial) -> float:
        sampled = suggest(trial, tp.space)
        hp = trial_hparams(base, sampled)
        trial_tags = {**tags, "sampled": ",".join(sorted(sampled))}
        retry_of = trial.user_attrs.get(NUMBER_ATTR)  # copied by the retry callback
        if retry_of is not None:
            trial_tags["retry_of"] = str(retry_of)
        if trial.user_attrs.get(BASELINE_ATTR):
            trial_tags["baseline"] = "true"  # the task's values from params.yaml
        trial.set_user_attr(NUMBER_ATTR, trial.number)
        run = st.start_trial(trial, f"{name} #{trial.number}", trial_tags, hp)
        evals = 0

        def on_eval(point: dict) -> None:
            nonlocal evals
            evals += 1
            values = {f"dev/{k}": v for k, v in point.items() if k != "step"}
            st.tracker.log_metrics(run, {**values, "dev/train_step": point["step"]}, step=evals)
            trial.report(point[metric], evals)
            # pruning at the last evaluation would only discard a finished trial
            last = point["step"] >= max(1, round(point["step"] / point["epoch"] * hp.epochs))
            if not last and trial.should_prune():
                raise optuna.TrialPruned(f"dev {metric} {point[metric]:.2f} at evaluation "
                                         f"{evals} is below the median of earlier trials")

        state, reason = "FAIL", None
        try:
            if not data:  # read once per process, English only (load_split enforces it)
                data[target.task] = (
                    load_split(paths.DATA, target.task, "en", "train", "train"),
                    load_split(paths.DATA, target.task, lang, split, "select"))
            t0 = time.time()
            # the DVC stage's training function: same seed, head initialisation, selection
            res = fit(p, target.task, target.init_dir(), hp, target.seed,
                      f"{name} #{trial.number}", data=data, on_eval=on_eval).result
            if not math.isfinite(res.best_score):
                reason = f"non-finite dev {metric}: {res.best_score}"
                return float("nan")  # optuna marks the trial FAIL
            st.tracker.log_metrics(run, {f"best_dev/{metric}": res.best_score,
                                         "best_step": res.best_step,
                                         "train_seconds": time.time() - t0})
            state = "COMPLETE"
            return res.best_score
        except optuna.TrialPruned:
            state = "PRUNED"
            raise
        except KeyboardInterrupt:
            reason = "interrupted (Ctrl-C / SIGTERM)"
            st.requeue_interrupted(the_study, trial, tp.max_retry)
            raise
        except Exception as e:
            reason = repr(e)
            raise
        finally:
            st.end_trial(run, state, reason)

    try:
        if trials:
            the_study.optimize(objective, n_trials=trials, callbacks=[st.summarise],
                               gc_after_trial=True)
    finally:
        st.finish()
        summary = summarise_study(the_study, target, base, url, name, st.parent, metric)
        if summary["best"] is not None:
            out = Path(out_dir) / f"{name}.best.yaml"
            write_best(out, summary)
            summary["best_file"] = str(out)
            if st.parent:
                st.tracker.log_artifact(st.parent, out)
    if apply:
        if summary["best"] is None:
            raise TuneError(f"study {name!r} has no complete trial: nothing to apply")
        apply_best(params_path, target.phase, target.task, summary["best"]["params"])
        summary["applied_to"] = str(params_path)
    return summary


def summarise_study(study, target: TuneTarget, base: TrainHParams, url: str, name: str,
                    parent: str | None, metric: str) -> dict:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state.name for t in trials)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    best = max(done, key=lambda t: (t.value, -t.number)) if done else None
    summary = {
        "study": name, "storage": public_url(url), "mlflow_run": parent,
        "objective": {**target.identity(metric), "split": "dev", "lang": "en"},
        "params_key": target.hparams_key,
        "counts": {s: counts.get(s, 0) for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING",
                                                  "WAITING")},
        "trials": [{"number": t.number, "state": t.state.name, "value": t.value,
                    "params": t.params} for t in trials],
        "best": None,
    }
    if best is not None:
        summary["best"] = {"trial": best.number, "value": best.value, "params": best.params,
                           "hparams": trial_hparams(base, best.params).model_dump()}
    return summary


def write_best(path: Path, summary: dict) -> None:
    import yaml

    best = summary["best"]
    obj = {k: summary[k] for k in ("study", "storage", "mlflow_run", "objective", "params_key",
                                   "counts")}
    obj |= {"best_trial": best["trial"], "best_value": best["value"],
            "best_params": best["params"], "hparams": best["hparams"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    head = (f"# written by `xstilts tune` (study {summary['study']}): the best English dev "
            f"trial.\n# To write best_params into params.yaml ({summary['params_key']}), run "
            "the same command with --trials 0 --apply.\n")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(head + yaml.safe_dump(obj, sort_keys=False), encoding="utf-8")
    tmp.replace(path)


# ---- params.yaml rewrite: only the tuned values change; comments and layout are kept ----

def yaml_number(value) -> str:
    """A YAML 1.1 number that reads back as exactly `value` (PyYAML needs a '.' in floats)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + (f"e{exponent}" if exponent else "")


_FLOW_SCALAR = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^']|'')*'|[^,\]}\s#]+")
_BLOCK_SCALAR = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^']|'')*'|[^\s#]+")


def yaml_string(value: str) -> str:
    """A YAML scalar that reads back as exactly the string `value` (plain when unambiguous,
    e.g. a commit sha; double-quoted otherwise)."""
    import yaml

    if not isinstance(value, str):
        raise TypeError(f"not a string: {value!r}")
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", value) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value)  # a JSON string is a YAML double-quoted scalar


def _container(value) -> bool:
    return isinstance(value, dict | list)


def set_entry_text(text: str, keys: tuple[str, ...], values: dict, render=yaml_number) -> str:
    """`text` (params.yaml) with `<keys...>.<key>` set to each of `values` (rendered by `render`).

    Values are replaced in place (flow or block mappings), missing keys are added to the
    entry (after its last single-line scalar value); nothing else in the file changes. The
    result is validated and checked to differ from the input only in those keys.
    Used by `--apply` (hyperparameters) and `xstilts pin` (hub revisions).
    """
    import copy

    import yaml
    from ruamel.yaml import YAML

    dotted = ".".join(keys)
    doc = YAML(typ="rt").load(text)
    parent, entry = None, doc
    try:
        for key in keys:
            parent, entry = entry, entry[key]
    except (KeyError, TypeError):
        raise TuneError(f"{dotted} not found in params.yaml") from None
    if entry is None or not hasattr(entry, "lc") or not isinstance(entry, dict):
        raise TuneError(f"{dotted} is not a mapping")
    lines = text.splitlines(keepends=True)
    flow = entry.fa.flow_style()
    scalar = _FLOW_SCALAR if flow else _BLOCK_SCALAR
    edits: list[tuple[int, int, int, str]] = []  # (line, col, length to replace, new text)
    missing = {k: v for k, v in values.items() if k not in entry}
    for key, value in values.items():
        if key not in entry:
            continue
        if _container(entry[key]):
            raise TuneError(f"{dotted}.{key} is not a single value")
        line, col = entry.lc.value(key)
        m = scalar.match(lines[line], col)
        if m is None:
            raise TuneError(f"cannot locate the value of {dotted}.{key}")
        edits.append((line, col, m.end() - col, render(value)))
    if missing:
        added = [f"{k}: {render(v)}" for k, v in missing.items()]
        # the new keys go after the last key holding a scalar (a list or mapping value may span
        # several lines or hold commas); before the first key if there is none
        scalars = [k for k in entry if not _container(entry[k])]
        if flow and len(entry):  # `task: {a: 1, ...}`: after that value
            if scalars:
                line, col = entry.lc.value(scalars[-1])
                m = _FLOW_SCALAR.match(lines[line], col)
                if m is None:
                    raise TuneError(f"cannot locate the end of {dotted}")
                edits.append((line, m.end(), 0, ", " + ", ".join(added)))
            else:
                line, col = entry.lc.key(list(entry)[0])
                edits.append((line, col, 0, ", ".join(added) + ", "))
        elif not len(entry):  # `task: {}`
            line, col = parent.lc.value(keys[-1])
            m = re.compile(r"\{\s*\}").match(lines[line], col)
            if m is None:
                raise TuneError(f"cannot locate the mapping of {dotted}")
            edits.append((line, col, m.end() - col, "{" + ", ".join(added) + "}"))
        elif scalars:
            line, indent = entry.lc.key(scalars[-1])
            end = lines[line] if lines[line].endswith("\n") else lines[line] + "\n"
            lines[line] = end + "".join(" " * indent + a + "\n" for a in added)
        else:
            line, indent = entry.lc.key(list(entry)[0])
            lines[line] = "".join(" " * indent + a + "\n" for a in added) + lines[line]
    for line, col, length, new in sorted(edits, reverse=True):
        lines[line] = lines[line][:col] + new + lines[line][col + length:]
    new_text = "".join(lines)

    before = yaml.safe_load(text)
    try:
        after = yaml.safe_load(new_text)
    except yaml.YAMLError:
        after = None
    expected = copy.deepcopy(before)
    node = expected
    for key in keys:
        node = node[key]
    node.update(values)
    if after != expected:
        raise TuneError(f"rewriting {dotted} would change other keys; params.yaml left as it was")
    parse_params(new_text)  # raises ParamsError if the new values are not valid
    return new_text


def set_hparams_text(text: str, phase: str, task: str, values: dict) -> str:
    """`text` (params.yaml) with `<phase>.hparams.<task>.<key>` set to each of `values`.

    Values are replaced in place (flow or block mappings), missing keys are appended to the
    entry; nothing else in the file changes. The result is validated and checked to differ
    from the input only in those keys.
    """
    return set_entry_text(text, (phase, "hparams", task), values)


def write_params_text(params_path: Path | str, new: str) -> None:
    """Replace params.yaml by `new` atomically (a temporary file renamed over it)."""
    path = Path(params_path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(path)


def apply_best(params_path: Path | str, phase: str, task: str, values: dict) -> None:
    """Write the tuned values into the task's entry of params.yaml (atomically)."""
    path = Path(params_path)
    new = set_hparams_text(path.read_text(encoding="utf-8"), phase, task, values)
    write_params_text(path, new)


# ---- command line ----

def add_parser(sub) -> None:
    """The `xstilts tune` subcommand (called by xstilts.cli)."""
    t = sub.add_parser("tune", help="Optuna search of one phase's hyperparameters on English dev",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--phase", required=True, choices=["intermediate", "target"])
    t.add_argument("--task", required=True, help="the task whose hyperparameters are tuned")
    t.add_argument("--intermediate", default=None, metavar="I",
                   help=f"target phase: start from models/intermediate/I/seed<S> "
                        f"(default {BASELINE!r})")
    t.add_argument("--seed", type=int, default=None,
                   help="training seed of every trial (default: the first of params.yaml seeds)")
    t.add_argument("--trials", type=int, required=True,
                   help="trials this process runs (added to the study; 0 = only report)")
    t.add_argument("--storage", default=None, help="Optuna storage URL (default tune.storage)")
    t.add_argument("--study", default=None,
                   help="study name (default <phase>-[<intermediate>-]<task>-seed<S>)")
    t.add_argument("--apply", action="store_true",
                   help="write the best values into the task's entry of params.yaml")
    t.add_argument("--params", default="params.yaml")
    t.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import signal

    from xstilts.core.stage import stage_setup

    p = stage_setup("tune", args.params)
    logging.getLogger("optuna").setLevel(logging.INFO)

    def terminate(signum, frame):  # SIGTERM behaves like Ctrl-C: fail + requeue the trial
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        summary = run_tune(p, args.phase, args.task, trials=args.trials,
                           itask=args.intermediate, seed=args.seed, storage=args.storage,
                           study=args.study, apply=args.apply, params_path=args.params)
    except TuneError as e:
        print(f"[tune] error: {e}", flush=True)
        return 2
    except KeyboardInterrupt:
        print("[tune] interrupted: the current trial is marked FAIL and queued again; run the "
              "same command to continue the study", flush=True)
        return 130
    print(format_summary(summary), flush=True)
    return 0


def format_summary(s: dict) -> str:
    lines = [f"study {s['study']} ({s['storage']}); MLflow run {s['mlflow_run']}",
             "trials: " + ", ".join(f"{k} {v}" for k, v in s["counts"].items() if v)]
    for t in s["trials"]:
        value = "" if t["value"] is None else f"{t['value']:.2f}"
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in t["params"].items())
        lines.append(f"  #{t['number']:<3} {t['state']:<8} {value:>7}  {params}")
    best = s["best"]
    if best is None:
        lines.append("no complete trial yet")
        return "\n".join(lines)
    metric = s["objective"]["metric"]
    lines.append(f"best: trial #{best['trial']}, English dev {metric} {best['value']:.2f}")
    lines.append(f"  {s['params_key']}: {json.dumps(best['params'])}")
    if s.get("best_file"):
        lines.append(f"written to {s['best_file']}")
    if s.get("applied_to"):
        lines.append(f"applied to {s['applied_to']} ({s['params_key']}): `dvc params diff` shows "
                     "it, `dvc repro` retrains with it")
    else:
        lines.append("not applied to params.yaml: rerun with --trials 0 --apply to write it")
    return "\n".join(lines)
