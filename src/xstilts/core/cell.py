"""One code path that trains and evaluates a cell, for every family.

A *cell* is an intermediate checkpoint -> English target training -> zero-shot evaluation. A
`Family` (main grid, volume, multilingual, scaling; `xstilts.core.families` declares them) says what
differs: parameters (the base model), the base checkpoint, the output layout, run names, tags and
stage names. An `Intermediate` says what one intermediate checkpoint is: the task it trains, its
hyperparameters and, where a study changes it, its train set. Everything else -- seeding, the
DDP ranks, resumable state after SIGKILL, loading the input checkpoint before the outputs are
emptied, model selection on English dev, per-example predictions, the metrics record and its
MLflow logging -- is here, once. The tuning objective trains with `fit`, as the stages do.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from xstilts.core.data import load_split
from xstilts.core.distributed import is_main, world
from xstilts.core.evaluation import (
    bf16_weights,
    embed_pool,
    predict_mining,
    predict_ranking,
    predict_retrieval,
    predict_split,
)
from xstilts.core.fingerprint import hash_tree
from xstilts.core.modeling import (
    CheckpointError,
    MultiTaskModel,
    TaskModel,
    checkpoint_meta,
    load_encoder,
    load_task_model,
    save_encoder,
)
from xstilts.core.params import BASELINE, MixtureParams, Params, TrainHParams
from xstilts.core.paths import DATA, Layout, fresh_dir, write_json
from xstilts.core.predictions import write_predictions
from xstilts.core.records import EvalRecord
from xstilts.core.resume import Checkpointer, config_key
from xstilts.core.tracking import Tracker, metric_key, read_run_id, write_run_id
from xstilts.core.train import TrainResult, set_seed, setup_runtime, train_mixture, train_task
from xstilts.tasks import get_task
from xstilts.tasks.core import CANDIDATES_SPLIT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Family:
    """What one family of cells changes: params (e.g. the base model), base checkpoint, layout,
    run-name prefix, MLflow tags, stage names, and fields added to every dev file."""

    name: str
    params: Params
    base: Path
    layout: Layout
    stage_prefix: str = ""  # "volume_" -> stages volume_intermediate@..., volume_target@...
    stage_head: tuple[str, ...] = ()  # leading stage arguments (scaling: the model)
    label: str = ""  # run name / progress prefix, e.g. "volume "
    tags: dict[str, str] = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # added to every dev file (scaling: the model)

    def stage(self, phase: str, *args) -> str:
        return f"{self.stage_prefix}{phase}@{'-'.join(str(a) for a in (*self.stage_head, *args))}"


TrainSet = Callable[[], tuple]  # () -> (train Dataset, what to record about it)


@dataclass(frozen=True)
class Intermediate:
    """One intermediate checkpoint of a family: `name` (the record's itask), `key` (its folder
    under the layout), the task or mixture `task` it trains (BASELINE: a copy of the base)."""

    name: str
    key: str
    task: str
    seed: int
    stage_args: tuple[str, ...]  # its stage's arguments before the seed
    hparams: TrainHParams | None = None
    mixture: MixtureParams | None = None
    train_set: TrainSet | None = None  # default: the task's English train split
    data_langs: tuple[str, ...] = ("en",)  # train splits the resumable state is keyed on
    title: str = ""  # run name (default: name)
    tags: dict[str, str] = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # tracked params + dev file + resume key
    record: Callable[[], dict] | None = None  # fields added to its cells' eval records


# ---------------------------------------------------------------- training


@dataclass
class Fit:
    """A trained model (best English dev state loaded), its tokenizer and what training did."""

    model: TaskModel | MultiTaskModel
    tokenizer: object
    result: TrainResult
    n_train: dict[str, int]
    bf16: bool
    seconds: float


def fit(p: Params, name: str, init: Path, hp: TrainHParams, seed: int, desc: str, *,
        mixture: MixtureParams | None = None, train_set: TrainSet | None = None,
        data: dict | None = None, on_eval=None, on_loaded=None,
        checkpoint: Callable[[bool, str], Checkpointer | None] | None = None) -> Fit:
    """Train task (or mixture) `name` from the encoder in `init`, select on English dev.
    `data` {task: (train, dev)} skips reading the splits (the tuning objective reads them once);
    `train_set` replaces the English train split; `on_loaded(bf16)` runs once the input
    checkpoint has loaded; `checkpoint(bf16, device)` gives the resumable state."""
    device, bf16 = setup_runtime(p.runtime)
    encoder, tokenizer = load_encoder(init, p.model.trust_remote_code)
    if on_loaded is not None:
        on_loaded(bf16)
    members = [get_task(t) for t in mixture.tasks] if mixture else [get_task(name)]
    set_seed(seed)  # the fresh heads' initialisation depends on the seed only
    if mixture:
        model = MultiTaskModel(encoder, name, members, p.model.pooling, hp.dropout,
                               mixture.shared_head, label_piece=hp.label_piece)
    else:
        model = TaskModel(encoder, members[0], p.model.pooling, hp.dropout,
                          label_piece=hp.label_piece)
    if data is None:
        data = {}
        for t in members:
            train = (train_set()[0] if train_set is not None
                     else load_split(DATA, t.name, "en", "train", "train"))
            data[t.name] = (train, load_split(DATA, t.name, "en", "dev", "select"))
    ckpt = checkpoint(bf16, device.type) if checkpoint is not None else None
    t0 = time.time()
    if mixture:
        res = train_mixture(model, tokenizer, data, hp, seed, device, bf16, mixture.cap,
                            p.evaluate.batch_size, on_eval, desc, ckpt)
    else:
        res = train_task(model, tokenizer, *data[name], hp, seed, device, bf16,
                         p.evaluate.batch_size, on_eval=on_eval, desc=desc, checkpoint=ckpt)
    return Fit(model, tokenizer, res, {t: len(d[0]) for t, d in data.items()}, bf16,
               time.time() - t0)


def run_settings(hp: TrainHParams) -> dict:
    """What evaluating a checkpoint needs of its training hparams (saved in its head.json, so
    evaluation never re-reads them from today's params): token length and QA window stride."""
    return {"max_length": hp.max_length, "doc_stride": hp.stride}


def _train(fam: Family, cell: Intermediate, name: str, init: Path, out: Path, hp: TrainHParams,
           tracker: Tracker | None, run: str | None, desc: str,
           mixture: MixtureParams | None = None, train_set: TrainSet | None = None) -> dict:
    """Train `name` from `init` into `out` (emptied once `init` has loaded); `tracker` None: a
    DDP rank other than 0, which trains and writes nothing ({})."""
    p = fam.params
    main = tracker is not None
    train_info: dict = {}
    if train_set is not None:  # read once: its record goes to the dev file
        loaded = train_set()
        train_info = loaded[1]

        def train_set() -> tuple:
            return loaded

    def on_loaded(bf16: bool) -> None:
        if main:
            tracker.set_tag(run, "precision", "bf16" if bf16 else "fp32")  # runtime.bf16
            fresh_dir(out)  # only now: a bad input checkpoint leaves the previous outputs

    def on_eval(point: dict) -> None:
        tracker.log_metrics(run, {f"dev/{k}": v for k, v in point.items() if k != "step"},
                            step=point["step"])

    def checkpoint(bf16: bool, device: str) -> Checkpointer | None:
        langs = cell.data_langs if init == fam.base else ("en",)
        return _checkpointer(p, fam.layout.resume_cell(out), init, hp, cell.seed, name,
                             mixture, bf16, device, langs, cell.info if init == fam.base else {})

    f = fit(p, name, init, hp, cell.seed, desc, mixture=mixture, train_set=train_set,
            on_eval=on_eval if main else None, on_loaded=on_loaded, checkpoint=checkpoint)
    if not main:
        return {}
    res = f.result
    f.model.cpu().save(out, f.tokenizer, {"best_dev": res.best_score,
                                          "best_step": res.best_step, **run_settings(hp)})
    members = mixture.tasks if mixture else [name]
    result = {"task": name, "seed": cell.seed, "best_dev": res.best_score,
              "best_step": res.best_step, "steps": res.steps,
              "train_examples": sum(f.n_train.values()), "history": res.history, **train_info}
    metric = get_task(members[0]).metric
    if mixture:  # selection metric: the mean of the members' main dev metrics
        metric = "avg"
        best = next((h for h in res.history if h["step"] == res.best_step), {})
        result |= {"metric": "avg", "mixture": mixture.model_dump(),
                   "train_examples_per_task": f.n_train,
                   "best_dev_per_task": {t: best.get(f"{t}/{get_task(t).metric}")
                                         for t in members}}
    if getattr(res, "resumed_from", None) is not None:
        result["resumed_from_step"] = res.resumed_from
    # no timings in the outputs (train.json, the dev record): re-running a cell must give the
    # same bytes, or DVC re-runs everything downstream; the time goes to the log and MLflow
    (out / "train.json").write_text(json.dumps(result, indent=1))
    log.info("%s: trained in %.1f s", desc, f.seconds)
    tracker.log_metrics(run, {f"best_dev/{metric}": res.best_score,
                              "train_seconds": f.seconds})
    return result


def _checkpointer(p: Params, cell: str, init: Path, hp: TrainHParams, seed: int, name: str,
                  mixture: MixtureParams | None, bf16: bool, device: str,
                  langs: tuple[str, ...] = ("en",), info: dict | None = None
                  ) -> Checkpointer | None:
    """Where this cell's resumable state lives, keyed by everything its result depends on."""
    every = p.runtime.checkpoint_every
    if every is None:
        return None
    members = mixture.tasks if mixture else [name]
    enc_dir = init / "encoder" if (init / "encoder").is_dir() else init
    dirs = {t: [DATA / t / "en" / "dev", *(DATA / t / lang / "train" for lang in langs)]
            for t in members}
    config = {"cell": cell, "hparams": hp.model_dump(), "seed": seed,
              "mixture": mixture.model_dump() if mixture else None,
              "pooling": p.model.pooling, "bf16": bf16, "device": device,
              "init": hash_tree([enc_dir]),
              "data": {t: hash_tree(sorted(d), (".arrow", "dataset_info.json"))
                       for t, d in dirs.items()}}
    if info:  # e.g. a volume subset's fraction and subset seed
        config["train_set"] = info
    if world() > 1:  # DDP: the result depends on the number of processes (summation order)
        config["processes"] = world()
    return Checkpointer(Path(p.runtime.resume_dir) / cell, config_key(config), every)


def _clear_resume(p: Params, cell: str) -> None:
    """Delete the resumable state of a finished cell (and folders left empty by it)."""
    if p.runtime.checkpoint_every is None:
        return
    root = Path(p.runtime.resume_dir)
    path = root / cell
    shutil.rmtree(path, ignore_errors=True)
    while path != root and path.parent != path:
        path = path.parent
        try:
            path.rmdir()  # only if empty
        except OSError:
            break


def _summary(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "history"}


def run_intermediate(fam: Family, cell: Intermediate) -> dict:
    """Train the intermediate checkpoint on English (or copy the base model for BASELINE)."""
    p, seed = fam.params, cell.seed
    out = fam.layout.intermediate_dir(cell.key, seed)  # emptied once the input has loaded
    desc = f"{fam.label}intermediate {cell.title or cell.name}"
    if not is_main():  # another DDP rank (runtime.num_processes > 1): trains, writes nothing
        if cell.task != BASELINE:
            _train(fam, cell, cell.task, fam.base, out, cell.hparams, None, None, desc,
                   cell.mixture, cell.train_set)
        return {}
    tracker = Tracker(p.tracking)
    run = tracker.start(f"{fam.label}{cell.title or cell.name} seed{seed}",
                        {**fam.tags, "itask": cell.task, **cell.tags, "seed": str(seed),
                         "phase": "intermediate",
                         "dvc_stage": fam.stage("intermediate", *cell.stage_args, seed)})
    tracker.log_params(run, {"model": p.model.model_dump(), "seed": seed, "itask": cell.task,
                             **cell.info})
    dev = fam.layout.dev_file("intermediate", cell.key, seed)
    if cell.task == BASELINE:
        encoder, tokenizer = load_encoder(fam.base, p.model.trust_remote_code)
        save_encoder(encoder, tokenizer, fresh_dir(out))
        result = {**fam.info, "itask": cell.task, "seed": seed, "trained": False}
        write_json(dev, result)
    else:
        hp = cell.hparams
        tracker.log_params(run, {"hparams": hp.model_dump(), **(
            {"mixture": cell.mixture.model_dump()} if cell.mixture else {})})
        result = _train(fam, cell, cell.task, fam.base, out, hp, tracker, run, desc,
                        cell.mixture, cell.train_set)
        write_json(dev, {**fam.info, **_summary(result), **cell.info})
    write_run_id(out, run, tracker.uri)
    tracker.finish(run)
    _clear_resume(p, fam.layout.resume_cell(out))  # the stage is complete
    return result


def run_target(fam: Family, cell: Intermediate, target: str) -> dict:
    """Fine-tune the intermediate encoder with a fresh head on the English target task."""
    p, seed = fam.params, cell.seed
    src = fam.layout.intermediate_dir(cell.key, seed)
    out = fam.layout.target_dir(cell.key, target, seed)  # emptied once `src` has loaded
    hp = p.target.hparams[target]
    desc = f"{fam.label}target {cell.title or cell.name}->{target}"
    if not is_main():  # another DDP rank: trains, writes nothing
        _train(fam, cell, target, src, out, hp, None, None, desc)
        return {}
    tracker = Tracker(p.tracking)
    parent = read_run_id(src)
    if not tracker.exists(parent):
        parent = tracker.start(f"{fam.label}{cell.title or cell.name} seed{seed}",
                               {**fam.tags, "itask": cell.task, **cell.tags, "seed": str(seed),
                                "phase": "intermediate"})
    run = tracker.start(f"{fam.label}{cell.title or cell.name} -> {target} seed{seed}",
                        {**fam.tags, "itask": cell.task, **cell.tags, "target": target,
                         "seed": str(seed), "phase": "target",
                         "dvc_stage": fam.stage("target", *cell.stage_args, target, seed)},
                        parent=parent)
    tracker.log_params(run, {"hparams": hp.model_dump(), "seed": seed, "itask": cell.task,
                             "target": target})
    result = _train(fam, cell, target, src, out, hp, tracker, run, desc)
    write_json(fam.layout.dev_file("target", cell.key, seed, target),
               {**fam.info, **_summary(result)})
    write_run_id(out, run, tracker.uri)
    tracker.finish(run)
    _clear_resume(p, fam.layout.resume_cell(out))  # the stage is complete
    return result


# ---------------------------------------------------------------- evaluation


def run_evaluate(fam: Family, cell: Intermediate, target: str) -> EvalRecord:
    """Zero-shot evaluation of a fine-tuned cell on the test split of every language."""
    task = get_task(target)
    ckpt = fam.layout.target_dir(cell.key, target, cell.seed)
    scores = evaluate_checkpoint(fam.params, ckpt, task, cell.name, cell.seed,
                                 fam.layout.prediction_dir(cell.key, target, cell.seed),
                                 f"{fam.label}test {cell.title or cell.name}->{target}")
    record = EvalRecord.of(cell.name, target, cell.seed, task.metric, scores,
                           label_piece=checkpoint_meta(ckpt).get("label_piece"),
                           **(cell.record() if cell.record else {}))
    return _finish_eval(fam, cell, record, read_run_id(ckpt),
                        fam.stage("target", *cell.stage_args, target, cell.seed))


def run_target_and_evaluate(fam: Family, cell: Intermediate, target: str) -> EvalRecord | None:
    """A target stage: `run_target`, then (on the main process) `run_evaluate` of the saved
    checkpoint, read back from disk as a later stage would: the same files as two stages."""
    run_target(fam, cell, target)
    return run_evaluate(fam, cell, target) if is_main() else None


def evaluate_checkpoint(p: Params, ckpt: Path, task, itask: str, seed: int, pred_dir: Path,
                        desc: str | None = None) -> dict:
    """Scores {lang: {metric: value}} of the target checkpoint `ckpt` on the test split of every
    language of `task`; per-example predictions to `pred_dir/<lang>.json` (emptied once the
    checkpoint has loaded)."""
    target = task.name
    desc = desc or f"test {itask}->{target}"
    device, bf16 = setup_runtime(p.runtime)
    model, tokenizer = load_task_model(ckpt, task, p.model.trust_remote_code)
    model = bf16_weights(model.to(device), bf16)
    # the checkpoint's own settings (head.json); older checkpoints: today's target hparams
    saved = model.run_settings
    hp = p.target.hparams.get(target)
    max_length = saved.get("max_length", hp.max_length if hp else None)
    stride = saved.get("doc_stride", hp.stride if hp else None)
    if max_length is None or stride is None:
        raise CheckpointError(f"{ckpt / 'head.json'}: no max_length/doc_stride and no "
                              f"target.hparams.{target} to take them from")
    scores = {}
    out = fresh_dir(pred_dir)
    for lang in eval_langs(p, task):
        ds = load_split(DATA, target, lang, "test", "evaluate")
        scores[lang], detail = predict_split(model, task, ds, tokenizer, lang, max_length,
                                             stride, p.evaluate.batch_size, device, bf16,
                                             f"{desc} {lang}")
        write_predictions(out / f"{lang}.json", _record(task, itask, seed, lang, detail))
        log.info("evaluate %s->%s seed%d %s: %s", itask, target, seed, lang, scores[lang])
    return scores


def run_retrieval(fam: Family, cell: Intermediate, target: str) -> EvalRecord:
    """Retrieval straight from the intermediate checkpoint (no target training), as the paper."""
    p, seed, itask = fam.params, cell.seed, cell.name
    task = get_task(target)
    ckpt = fam.layout.intermediate_dir(cell.key, seed)
    device, bf16 = setup_runtime(p.runtime)
    encoder, tokenizer = load_encoder(ckpt, p.model.trust_remote_code)
    encoder.to(device)
    r = p.evaluate.retrieval
    args = (r.pooling, r.layer, p.evaluate.batch_size, r.max_length, device, bf16)
    kind = task.retrieval_kind  # pairs: top-1 accuracy; mining: BUCC F1; ranking: mAP@20
    pool = None
    if kind == "ranking":  # one shared candidate pool, embedded once
        cands = load_split(DATA, target, "en", CANDIDATES_SPLIT, "evaluate")
        pool = embed_pool(encoder, tokenizer, cands, *args,
                          desc=f"retrieval {itask}->{target} candidates")
    scores = {}
    out = fresh_dir(fam.layout.prediction_dir(cell.key, target, seed))
    for lang in eval_langs(p, task):
        ds = load_split(DATA, target, lang, "test", "evaluate")
        desc = f"{fam.label}retrieval {itask}->{target} {lang}"
        if kind == "mining":  # threshold chosen on the language's dev (BUCC sample) split
            dev = load_split(DATA, target, lang, "dev", "evaluate")
            scores[lang], detail = predict_mining(encoder, tokenizer, dev, ds, *args, desc=desc)
        elif kind == "ranking":
            scores[lang], detail = predict_ranking(encoder, tokenizer, ds, *pool, *args,
                                                   desc=desc)
        else:
            scores[lang], detail = predict_retrieval(encoder, tokenizer, ds, *args, desc)
        write_predictions(out / f"{lang}.json", _record(task, itask, seed, lang, detail))
        log.info("retrieval %s->%s seed%d %s: %s", itask, target, seed, lang, scores[lang])
    parent = read_run_id(ckpt)
    tracker = Tracker(p.tracking)
    stage = fam.stage("retrieve", *cell.stage_args, target, seed)
    run = tracker.start(f"{fam.label}{itask} -> {target} seed{seed}",
                        {**fam.tags, "itask": itask, "target": target, "seed": str(seed),
                         "phase": "retrieval", "dvc_stage": stage},
                        parent=parent if tracker.exists(parent) else None)
    tracker.log_params(run, {"retrieval": r.model_dump(), "seed": seed, "itask": itask,
                             "target": target})
    tracker.finish(run)
    record = EvalRecord.of(itask, target, seed, task.metric, scores,
                           **(cell.record() if cell.record else {}))
    return _finish_eval(fam, cell, record, run, stage, tracker)


def _record(task, itask: str, seed: int, lang: str, detail: dict) -> dict:
    """A prediction file's content (header + per-example detail of one language)."""
    return {"task": task.name, "type": str(task.type), "lang": lang, "split": "test",
            "itask": itask, "seed": seed, "metric": task.metric, "labels": list(task.labels),
            **detail}


def eval_langs(p: Params, task) -> list[str]:
    """The configured languages of `task` that have a test split."""
    src = p.tasks[task.name]
    langs = src.languages or list(task.languages)
    return [lang for lang in langs if task.has_split(lang, "test")]


def _finish_eval(fam: Family, cell: Intermediate, record: EvalRecord, run: str | None,
                 stage: str, tracker: Tracker | None = None) -> EvalRecord:
    """Write the cell's metrics record and log it (a tagging cell's `label_piece` too: the
    report labels the column with it)."""
    record.write(fam.layout.eval_file(cell.key, record.target, cell.seed))
    tracker = tracker or Tracker(fam.params.tracking)
    if not tracker.exists(run):
        run = tracker.start(f"{fam.label}{cell.title or cell.name} -> {record.target} "
                            f"seed{cell.seed}", {**fam.tags, "itask": cell.task, **cell.tags,
                                                 "target": record.target,
                                                 "seed": str(cell.seed)})
    target, metric = record.target, record.metric
    values = {metric_key(target, m, lang): v for lang, s in record.languages.items()
              for m, v in s.items()}
    if record.avg_non_en is not None:
        values[metric_key(target, metric, "avg_non_en")] = record.avg_non_en
    tracker.log_metrics(run, values)
    tracker.client.set_tag(run, "dvc_eval_stage", stage)
    if record.label_piece is not None:  # which sub-word carried the tags of these metrics
        tracker.client.set_tag(run, "label_piece", record.label_piece)
    return record
