"""Prediction and scoring of one split with a task model (shared by dev selection and evaluate)."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from datasets import Dataset

from xstilts import metrics, qa, stats
from xstilts.features import (
    featurize,
    iter_batches,
    length_grouped_batches,
    retrieval_features,
)
from xstilts.modeling import TaskModel, pool
from xstilts.progress import progress
from xstilts.tasks import Task, TaskType


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on the device when asked for, a no-op context otherwise."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@torch.inference_mode()
def _forward_all(model: TaskModel, rows: list[dict], batch_size: int, pad_id: int,
                 device: torch.device, bf16: bool, desc: str) -> list[np.ndarray]:
    """Logits per row (in row order), evaluated in length-sorted batches."""
    model.eval()
    out: list[np.ndarray | None] = [None] * len(rows)
    batches = length_grouped_batches(rows, batch_size, seed=0, shuffle=False)
    for idx, batch in progress(iter_batches(rows, batches, pad_id), total=len(batches), desc=desc,
                           leave=False, unit="batch"):
        batch = {k: v.to(device) for k, v in batch.items()}
        with autocast(device, bf16):
            logits = model(batch).float().cpu().numpy()
        lengths = batch["attention_mask"].sum(-1).cpu().numpy()
        for j, i in enumerate(idx):
            if model.task_type in (TaskType.SPAN_QA, TaskType.TAGGING):
                out[i] = logits[j, : int(lengths[j])]
            else:
                out[i] = logits[j]
    return out


def score_split(model: TaskModel, task: Task, ds: Dataset, tokenizer, lang: str,
                max_length: int, doc_stride: int, batch_size: int, device: torch.device,
                bf16: bool, desc: str = "eval") -> dict[str, float]:
    """The task's metrics (0-100) on one split."""
    return _predict(model, task, ds, tokenizer, lang, max_length, doc_stride, batch_size,
                    device, bf16, desc, detail=False)[0]


def predict_split(model: TaskModel, task: Task, ds: Dataset, tokenizer, lang: str,
                  max_length: int, doc_stride: int, batch_size: int, device: torch.device,
                  bf16: bool, desc: str = "eval") -> tuple[dict[str, float], dict]:
    """The task's metrics (0-100) on one split and the per-example detail: ``{"ids",
    "per_example", "predictions"}`` (see :mod:`xstilts.predictions`)."""
    return _predict(model, task, ds, tokenizer, lang, max_length, doc_stride, batch_size,
                    device, bf16, desc, detail=True)


def _predict(model: TaskModel, task: Task, ds: Dataset, tokenizer, lang: str, max_length: int,
             doc_stride: int, batch_size: int, device: torch.device, bf16: bool, desc: str,
             detail: bool) -> tuple[dict[str, float], dict | None]:
    rows = featurize(task, ds, tokenizer, max_length, doc_stride, train=False)
    ds = ds[:]  # columns as plain lists
    logits = _forward_all(model, rows, batch_size, tokenizer.pad_token_id, device, bf16, desc)
    ids = list(ds["id"])
    t = task.type
    if t in (TaskType.CLASSIFICATION, TaskType.PAIR_CLASSIFICATION, TaskType.MULTIPLE_CHOICE):
        preds = [int(np.argmax(x)) for x in logits]
        scores = {"acc": metrics.accuracy(preds, ds["label"])}
        per = {"acc": [int(p == g) for p, g in zip(preds, ds["label"], strict=True)]}
    elif t == TaskType.SPAN_QA:
        answers = qa.postprocess_predictions(
            ds["id"], ds["context"], [r["example_id"] for r in rows],
            [r["offset_mapping"] for r in rows], [x[:, 0] for x in logits],
            [x[:, 1] for x in logits],
        )
        refs = {i: a["text"] for i, a in zip(ds["id"], ds["answers"], strict=True)}
        scores = metrics.squad_scores(answers, refs, lang=lang)
        if not detail:
            return scores, None
        preds = [answers.get(i, "") for i in ids]

        def best(metric, qid: str) -> float:  # max over gold answers; a missing answer: 0
            if qid not in answers:
                return 0.0
            return max(metric(answers[qid], gold, lang) for gold in refs[qid])

        per = {"em": [best(metrics.qa_exact_match, i) for i in ids],
               "f1": [best(metrics.qa_f1, i) for i in ids]}
    elif t == TaskType.TAGGING:
        preds = []
        for row, x in zip(rows, logits, strict=True):
            tags = [task.labels[int(np.argmax(x[p]))] for p in row["word_starts"]]
            tags += ["O"] * (row["num_words"] - len(tags))  # words cut by truncation
            preds.append(tags)
        scores = {"f1": metrics.tagging_f1(ds["tags"], preds)}
        if not detail:
            return scores, None
        counts = stats.entity_counts(ds["tags"], preds)
        per = {"tp": counts[:, 0].tolist(), "n_pred": counts[:, 1].tolist(),
               "n_gold": counts[:, 2].tolist()}
    else:
        raise ValueError(f"score_split does not handle {t}")
    if not detail:
        return scores, None
    return scores, {"ids": ids, "per_example": per,
                    "predictions": dict(zip(ids, preds, strict=True))}


@torch.inference_mode()
def embed(encoder, tokenizer, texts: list[str], pooling: str, layer: int, batch_size: int,
          max_length: int, device: torch.device, bf16: bool, desc: str = "embed") -> np.ndarray:
    """[N, H] sentence vectors from hidden-state `layer` (-1 = last) with `pooling`."""
    encoder.eval()
    rows = retrieval_features(texts, tokenizer, max_length)
    out = np.zeros((len(rows), encoder.config.hidden_size), dtype=np.float32)
    batches = length_grouped_batches(rows, batch_size, seed=0, shuffle=False)
    for idx, batch in progress(iter_batches(rows, batches, tokenizer.pad_token_id),
                           total=len(batches), desc=desc, leave=False, unit="batch"):
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        with autocast(device, bf16):
            hs = encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        vec = pool(hs.hidden_states[layer].float(), mask, pooling)
        out[idx] = vec.cpu().numpy()
    return out


def score_retrieval(encoder, tokenizer, ds: Dataset, pooling: str, layer: int,
                    batch_size: int, max_length: int, device: torch.device, bf16: bool,
                    desc: str = "retrieval") -> dict[str, float]:
    """Tatoeba-style top-1 accuracy (cosine) of source -> English target."""
    return predict_retrieval(encoder, tokenizer, ds, pooling, layer, batch_size, max_length,
                             device, bf16, desc)[0]


def predict_retrieval(encoder, tokenizer, ds: Dataset, pooling: str, layer: int,
                      batch_size: int, max_length: int, device: torch.device, bf16: bool,
                      desc: str = "retrieval") -> tuple[dict[str, float], dict]:
    """Top-1 accuracy and the per-example detail: the index (in this split) of the English
    sentence each source retrieves, and whether it is its translation."""
    ds = ds[:]
    src = embed(encoder, tokenizer, ds["source"], pooling, layer, batch_size, max_length,
                device, bf16, desc + " src")
    tgt = embed(encoder, tokenizer, ds["target"], pooling, layer, batch_size, max_length,
                device, bf16, desc + " tgt")
    nearest = np.argmax(_unit(src) @ _unit(tgt).T, axis=1).tolist()  # ties: lowest index
    ids = list(ds["id"])
    return ({"acc": metrics.retrieval_accuracy(src, tgt)},
            {"ids": ids, "per_example": {"acc": [int(j == i) for i, j in enumerate(nearest)]},
             "predictions": dict(zip(ids, nearest, strict=True))})


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as metrics.retrieval_accuracy."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)
