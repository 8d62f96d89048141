"""Prediction and scoring of one split with a task model (shared by dev selection and evaluate)."""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import torch
from datasets import Dataset

from xstilts.core import metrics, qa, retrieval
from xstilts.core.features import (
    featurize,
    iter_batches,
    length_grouped_batches,
    retrieval_features,
)
from xstilts.core.modeling import TaskModel, pool
from xstilts.core.progress import progress
from xstilts.tasks import Task, TaskType

log = logging.getLogger(__name__)


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
    bf16 = bf16 and next(model.parameters()).dtype != torch.bfloat16  # else: bf16 weights
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


def bf16_weights(model: torch.nn.Module, bf16: bool) -> torch.nn.Module:
    """A model to evaluate (never to train again), its weights cast to bf16 once where bf16 is
    on: no per-op autocast casts of every weight at every batch (1.3x faster evaluation on a CPU
    with native bf16, benchmarks/README.md). `_forward_all` then runs it without autocast."""
    return model.to(torch.bfloat16) if bf16 else model


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
    "per_example", "predictions"}`` (see :mod:`xstilts.core.predictions`)."""
    return _predict(model, task, ds, tokenizer, lang, max_length, doc_stride, batch_size,
                    device, bf16, desc, detail=True)


def _predict(model: TaskModel, task: Task, ds: Dataset, tokenizer, lang: str, max_length: int,
             doc_stride: int, batch_size: int, device: torch.device, bf16: bool, desc: str,
             detail: bool) -> tuple[dict[str, float], dict | None]:
    rows = featurize(task, ds, tokenizer, max_length, doc_stride, train=False,
                     label_piece=model.label_piece)
    ds = ds[:]  # columns as plain lists
    logits = _forward_all(model, rows, batch_size, tokenizer.pad_token_id, device, bf16, desc)
    ids = list(ds["id"])
    t = task.type
    if t in (TaskType.CLASSIFICATION, TaskType.PAIR_CLASSIFICATION, TaskType.MULTIPLE_CHOICE):
        preds = [int(np.argmax(x)) for x in logits]
        scores = {"acc": metrics.accuracy(preds, ds["label"])}
        per = {"acc": [int(p == g) for p, g in zip(preds, ds["label"], strict=True)]}
    elif t == TaskType.SPAN_QA and task.extra.get("allow_no_answer"):  # SQuAD v2.0
        answers = qa.postprocess_predictions(
            ds["id"], ds["context"], [r["example_id"] for r in rows],
            [r["offset_mapping"] for r in rows], [x[:, 0] for x in logits],
            [x[:, 1] for x in logits], allow_null=True,
            feature_null_index=[r["cls_index"] for r in rows],
        )
        refs = {i: a["text"] for i, a in zip(ds["id"], ds["answers"], strict=True)}
        scores = metrics.squad_v2_scores(answers, refs)
        if not detail:
            return scores, None
        preds = [answers[i] for i in ids]
        golds = {i: metrics.squad_v2_golds(refs[i]) for i in ids}
        per = {"em": [max(metrics.squad_v2_exact(answers[i], g) for g in golds[i]) for i in ids],
               "f1": [max(metrics.squad_v2_f1(answers[i], g) for g in golds[i]) for i in ids]}
    elif t == TaskType.SPAN_QA:
        answers = qa.postprocess_predictions(
            ds["id"], ds["context"], [r["example_id"] for r in rows],
            [r["offset_mapping"] for r in rows], [x[:, 0] for x in logits],
            [x[:, 1] for x in logits],
        )
        refs = {i: a["text"] for i, a in zip(ds["id"], ds["answers"], strict=True)}
        script = task.qa_script  # XTREME: SQuAD v1.1 everywhere, MLQA's script for MLQA
        scores = metrics.squad_scores(answers, refs, lang=lang, script=script)
        if not detail:
            return scores, None
        preds = [answers.get(i, "") for i in ids]

        def best(metric, qid: str) -> float:  # max over gold answers; a missing answer: 0
            if qid not in answers:
                return 0.0
            return max(metric(answers[qid], gold, lang, script) for gold in refs[qid])

        per = {"em": [best(metrics.qa_exact_match, i) for i in ids],
               "f1": [best(metrics.qa_f1, i) for i in ids]}
    elif t == TaskType.TAGGING:
        preds = decode_tags(task, rows, logits, len(ids))
        if task.metric == "acc":  # per-token accuracy (ccg)
            scores = {"acc": metrics.token_accuracy(ds["tags"], preds)}
        else:  # seqeval F1 as XTREME computes it (BIO entities; raw UPOS tags for udpos)
            scores = {"f1": metrics.tagging_f1(ds["tags"], preds)}
        if not detail:
            return scores, None
        # (hits, predicted, gold) per sentence; their sums give the corpus score exactly
        counts = metrics.tagging_counts(ds["tags"], preds, task.metric)
        per = {"tp": counts[:, 0].tolist(), "n_pred": counts[:, 1].tolist(),
               "n_gold": counts[:, 2].tolist()}
    else:
        raise ValueError(f"score_split does not handle {t}")
    if not detail:
        return scores, None
    return scores, {"ids": ids, "per_example": per,
                    "predictions": dict(zip(ids, preds, strict=True))}


def decode_tags(task: Task, rows: list[dict], logits: list[np.ndarray],
                n_sentences: int) -> list[list[str]]:
    """One predicted tag per word of each sentence, read at the sub-word that carried the word's
    label in training (each row's ``word_starts``, whichever `label_piece` chose them).

    `rows` are the featurized chunks of the sentences, in order (xstilts.core.features._tagging);
    `logits[k]` is row k's [L, K] scores. A word left without a sub-word (cut off): "O".
    """
    # labels that are gold-only (ccg's unknown category) are never predicted
    banned = [task.labels.index(t) for t in task.extra.get("never_predict", ())
              if t in task.labels]
    preds: list[list[str]] = [[] for _ in range(n_sentences)]
    for row, x in zip(rows, logits, strict=True):
        if banned:
            x = x.copy()
            x[:, banned] = -np.inf
        tags = ["O"] * row["num_words"]
        for p, w in zip(row["word_starts"], row["start_words"], strict=True):
            tags[w] = task.labels[int(np.argmax(x[p]))]
        preds[row["sentence"]].extend(tags)
    return preds


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


def predict_retrieval(encoder, tokenizer, ds: Dataset, pooling: str, layer: int,
                      batch_size: int, max_length: int, device: torch.device, bf16: bool,
                      desc: str = "retrieval") -> tuple[dict[str, float], dict]:
    """Top-1 accuracy as XTREME reports Tatoeba (search **en -> xx**: every English sentence
    queries the source-language side, :func:`xstilts.core.retrieval.tatoeba_predictions`) and the
    per-example detail: for each pair (keyed by its id), the index in this split of the source
    sentence its English side retrieves, and whether that is its translation."""
    ds = ds[:]
    src = embed(encoder, tokenizer, ds["source"], pooling, layer, batch_size, max_length,
                device, bf16, desc + " src")
    tgt = embed(encoder, tokenizer, ds["target"], pooling, layer, batch_size, max_length,
                device, bf16, desc + " en")
    nearest = retrieval.tatoeba_predictions(src, tgt).tolist()
    hits = [int(j == i) for i, j in enumerate(nearest)]
    ids = list(ds["id"])
    return ({"acc": 100.0 * float(np.mean(hits))},
            {"ids": ids, "direction": "en->xx", "per_example": {"acc": hits},
             "predictions": dict(zip(ids, nearest, strict=True))})


def _mining_split(encoder, tokenizer, ds: Dataset, pooling: str, layer: int, batch_size: int,
                  max_length: int, device: torch.device, bf16: bool, desc: str
                  ) -> tuple[list[str], dict[tuple[str, str], float], set[tuple[str, str]]]:
    """(source ids, mined candidates {(source id, English id): margin score}, gold pairs) of
    one BUCC split, mined as XTREME does (distinct sentences embedded once; sentences repeated
    in a file get no id)."""
    rows = ds[:]
    src = [(i, t, rel) for i, t, r, rel in zip(rows["id"], rows["text"], rows["role"],
                                               rows["relevant"], strict=True) if r == "query"]
    trg = [(i, t) for i, t, r in zip(rows["id"], rows["text"], rows["role"], strict=True)
           if r == "candidate"]
    if not src or not trg:
        raise ValueError(f"{desc}: a mining split needs query and candidate rows "
                         f"({len(src)} and {len(trg)})")
    src_texts, src_ids = retrieval.unique_texts([s[0] for s in src], [s[1] for s in src])
    trg_texts, trg_ids = retrieval.unique_texts([t[0] for t in trg], [t[1] for t in trg])
    x = embed(encoder, tokenizer, src_texts, pooling, layer, batch_size, max_length, device,
              bf16, desc + " src")
    y = embed(encoder, tokenizer, trg_texts, pooling, layer, batch_size, max_length, device,
              bf16, desc + " en")
    cand2score = retrieval.candidate_scores(retrieval.mine(x, y), src_ids, trg_ids)
    trg_set = {t[0] for t in trg}
    gold = {(s, t) for s, _, rel in src for t in rel if t in trg_set}
    return [s[0] for s in src], cand2score, gold


def predict_mining(encoder, tokenizer, dev: Dataset, test: Dataset, pooling: str, layer: int,
                   batch_size: int, max_length: int, device: torch.device, bf16: bool,
                   desc: str = "mining") -> tuple[dict[str, float], dict]:
    """BUCC F1/precision/recall on ``test`` with the F1-optimal threshold of ``dev`` (see
    :mod:`xstilts.core.retrieval`), and the per-example detail: per source sentence the English
    id extracted for it ("" if none) and its (tp, n_pred, n_gold) pair counts, whose sums give
    the corpus F1 exactly. The header adds the dev threshold and, for reference, the test-set
    optimum (what XTREME's scripts print when run on a split with gold)."""
    args = (pooling, layer, batch_size, max_length, device, bf16)
    _, dev_c2s, dev_gold = _mining_split(encoder, tokenizer, dev, *args, desc=desc + " dev")
    if not dev_gold:
        raise ValueError(f"{desc}: the dev (BUCC sample) split has no gold pairs to choose the "
                         "threshold on")
    threshold = retrieval.optimize_threshold(dev_c2s, dev_gold)
    ids, c2s, gold = _mining_split(encoder, tokenizer, test, *args, desc=desc + " test")
    if not gold:
        raise ValueError(f"{desc}: the test split has no gold pairs")
    mined = retrieval.extract(c2s, threshold)
    scores = retrieval.mining_prf(mined, gold)
    best = retrieval.optimize_threshold(c2s, gold)
    pred = dict.fromkeys(ids, "")
    for s, t in mined:
        pred[s] = t
    n_gold: dict[str, int] = {}
    for s, _ in gold:
        n_gold[s] = n_gold.get(s, 0) + 1
    per = {"tp": [int((i, pred[i]) in gold) for i in ids],
           "n_pred": [int(pred[i] != "") for i in ids],
           "n_gold": [n_gold.get(i, 0) for i in ids]}
    return scores, {"ids": ids, "per_example": per, "predictions": pred,
                    "threshold": threshold, "test_optimal_threshold": best,
                    "test_optimal_f1": retrieval.mining_prf(retrieval.extract(c2s, best),
                                                            gold)["f1"]}


def embed_pool(encoder, tokenizer, candidates: Dataset, pooling: str, layer: int,
               batch_size: int, max_length: int, device: torch.device, bf16: bool,
               desc: str = "candidates") -> tuple[list[str], np.ndarray]:
    """(candidate ids, embeddings) of a ranking task's candidate pool."""
    rows = candidates[:]
    bad = sorted(set(rows["role"]) - {"candidate"})
    if bad:
        raise ValueError(f"{desc}: the candidate pool has rows of role {bad}")
    return list(rows["id"]), embed(encoder, tokenizer, list(rows["text"]), pooling, layer,
                                   batch_size, max_length, device, bf16, desc)


def predict_ranking(encoder, tokenizer, queries: Dataset, pool_ids: list[str],
                    pool_emb: np.ndarray, pooling: str, layer: int, batch_size: int,
                    max_length: int, device: torch.device, bf16: bool, k: int = retrieval.TOP_K,
                    desc: str = "ranking") -> tuple[dict[str, float], dict]:
    """mAP@k (0-100, XTREME-R's definition) of the queries against the candidate pool (cosine
    ranking) and the per-example detail: AP@k per query and its top-k candidate ids.

    Relevant ids missing from the pool (only when ``max_eval`` subsampled it) are ignored; a
    query left without any relevant candidate is dropped, with a warning."""
    rows = queries[:]
    bad = sorted(set(rows["role"]) - {"query"})
    if bad:
        raise ValueError(f"{desc}: the test split has rows of role {bad}")
    in_pool = set(pool_ids)
    keep = [j for j, rel in enumerate(rows["relevant"]) if in_pool.intersection(rel)]
    if len(keep) < len(rows["id"]):
        log.warning("%s: %d of %d queries have no relevant candidate in the pool (subsampled?); "
                    "they are not scored", desc, len(rows["id"]) - len(keep), len(rows["id"]))
    if not keep:
        raise ValueError(f"{desc}: no query has a relevant candidate in the pool")
    ids = [rows["id"][j] for j in keep]
    q = embed(encoder, tokenizer, [rows["text"][j] for j in keep], pooling, layer, batch_size,
              max_length, device, bf16, desc)
    top = retrieval.rank_candidates(q, pool_emb, k)
    ranked = [[pool_ids[c] for c in row] for row in top.tolist()]
    ap = [retrieval.average_precision_at_k(in_pool.intersection(rows["relevant"][j]), r, k)
          for j, r in zip(keep, ranked, strict=True)]
    return ({f"map_at_{k}": 100.0 * float(np.mean(ap))},
            {"ids": ids, "per_example": {f"map_at_{k}": ap},
             "predictions": dict(zip(ids, ranked, strict=True))})

