"""Prediction and scoring of one split with a task model (shared by dev selection and evaluate)."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from datasets import Dataset

from xstilts import metrics, qa
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
    rows = featurize(task, ds, tokenizer, max_length, doc_stride, train=False)
    ds = ds[:]  # columns as plain lists
    logits = _forward_all(model, rows, batch_size, tokenizer.pad_token_id, device, bf16, desc)
    t = task.type
    if t in (TaskType.CLASSIFICATION, TaskType.PAIR_CLASSIFICATION, TaskType.MULTIPLE_CHOICE):
        preds = [int(np.argmax(x)) for x in logits]
        return {"acc": metrics.accuracy(preds, ds["label"])}
    if t == TaskType.SPAN_QA:
        predictions = qa.postprocess_predictions(
            ds["id"], ds["context"], [r["example_id"] for r in rows],
            [r["offset_mapping"] for r in rows], [x[:, 0] for x in logits],
            [x[:, 1] for x in logits],
        )
        refs = {i: a["text"] for i, a in zip(ds["id"], ds["answers"], strict=True)}
        return metrics.squad_scores(predictions, refs, lang=lang)
    if t == TaskType.TAGGING:
        preds = []
        for row, x in zip(rows, logits, strict=True):
            tags = [task.labels[int(np.argmax(x[p]))] for p in row["word_starts"]]
            tags += ["O"] * (row["num_words"] - len(tags))  # words cut by truncation
            preds.append(tags)
        return {"f1": metrics.tagging_f1(ds["tags"], preds)}
    raise ValueError(f"score_split does not handle {t}")


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
    ds = ds[:]
    src = embed(encoder, tokenizer, ds["source"], pooling, layer, batch_size, max_length,
                device, bf16, desc + " src")
    tgt = embed(encoder, tokenizer, ds["target"], pooling, layer, batch_size, max_length,
                device, bf16, desc + " tgt")
    return {"acc": metrics.retrieval_accuracy(src, tgt)}
