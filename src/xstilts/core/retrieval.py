"""Retrieval scoring as XTREME and XTREME-R define it (pure functions of embeddings and ids).

- **Pairs** (Tatoeba, the embedded ``xname_retrieval``): top-1 accuracy of cosine nearest
  neighbours searched **en -> xx**, as XTREME reports Tatoeba (:func:`tatoeba_accuracy`): in
  google-research/xtreme ``third_party/evaluate_retrieval.py`` (``main``, ``task_name ==
  'tatoeba'``) ``x`` holds the non-English and ``y`` the English embeddings and
  ``predictions = similarity_search(x, y, ...)``, and ``third_party/utils_retrieve.py``
  ``similarity_search`` does ``idx.add(x)`` then ``idx.search(y, 1)``: the index is the
  non-English side, every English sentence is a query and its prediction is the line of the
  non-English sentence it retrieves (``evaluate.py`` ``accuracy`` compares those lines with the
  labels). :func:`xstilts.core.metrics.retrieval_accuracy` is the other direction (xx -> en); the
  two differ when nearest neighbours are not mutual (hubs).
- **Mining** (BUCC 2018, XTREME ``third_party/utils_retrieve.py``, after LASER's
  ``mine_bitext``): ratio-margin scores over the k = 4 nearest neighbours in both directions
  (:func:`mine`), candidates keyed by sentence ids (:func:`candidate_scores`), the F1-optimal
  threshold on the sample (dev) set (:func:`optimize_threshold`), applied to the test set
  (:func:`extract`, :func:`mining_prf`).
- **Ranking** (LAReQA on XQuAD-R, Mewsli-X; XTREME-R): average precision over the top k = 20,
  normalised by ``min(#relevant, k)`` (:func:`average_precision_at_k`, XTREME-R
  ``utils_lareqa.average_precision_at_k``); for Mewsli-X's single gold entity this is the
  reciprocal rank within the top 20 (``utils_mewslix.evaluate``).

Similarity search is exact inner product on L2-normalised float32 vectors (cosine): faiss
``IndexFlatIP`` when faiss is installed, a numpy fallback otherwise (same results up to float
rounding). Ties in rankings go to the lower index.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable, Mapping, Sequence

import numpy as np

log = logging.getLogger(__name__)

NEIGHBORHOOD = 4  # k of the margin (XTREME / LASER mine_bitext default)
TOP_K = 20  # XTREME-R's mAP@20 (LAReQA) and MRR/MAP@20 (Mewsli-X)

try:  # pragma: no cover - exercised by whichever is installed
    import faiss
except ImportError:  # pragma: no cover
    faiss = None


def normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm as float32 (zero rows stay zero, as faiss.normalize_L2)."""
    x = np.array(x, dtype=np.float32, copy=True)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be 2-D, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def knn(queries: np.ndarray, database: np.ndarray, k: int,
        use_faiss: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` inner products: (similarities, indices), each ``[len(queries), k]``,
    best first. ``use_faiss=None`` uses faiss when it is installed."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    database = np.ascontiguousarray(database, dtype=np.float32)
    if queries.shape[1] != database.shape[1]:
        raise ValueError(f"dimension mismatch: queries {queries.shape}, database "
                         f"{database.shape}")
    if not 1 <= k <= database.shape[0]:
        raise ValueError(f"k={k} must be in 1..{database.shape[0]} (database size)")
    if use_faiss is None:
        use_faiss = faiss is not None
    if use_faiss:
        if faiss is None:
            raise ImportError("faiss is not installed (pip install faiss-cpu)")
        index = faiss.IndexFlatIP(database.shape[1])
        index.add(database)
        sims, inds = index.search(queries, k)
        return sims, inds.astype(np.int64)
    sims = np.empty((len(queries), k), dtype=np.float32)
    inds = np.empty((len(queries), k), dtype=np.int64)
    step = max(1, 2**25 // len(database))  # bounded memory: <= 32M scores (128 MB) at a time
    for start in range(0, len(queries), step):
        scores = queries[start : start + step] @ database.T
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # ties: lower index first
        inds[start : start + step] = top
        sims[start : start + step] = np.take_along_axis(scores, top, axis=1)
    return sims, inds


# --------------------------------------------------------------------------- pairs (Tatoeba)


def tatoeba_predictions(source: np.ndarray, english: np.ndarray,
                        use_faiss: bool | None = None) -> np.ndarray:
    """For each English row j, the source (non-English) row nearest to it by cosine: XTREME's
    ``similarity_search(x=source, y=english)`` (``idx.add(x)``; ``idx.search(y, 1)``), i.e. the
    search runs **en -> xx**. faiss ``IndexFlatL2`` on L2-normalised rows ranks as cosine does;
    ties go to the lower index here."""
    src, eng = normalize(source), normalize(english)
    if src.shape != eng.shape:
        raise ValueError(f"source {src.shape} and English {eng.shape} must have the same shape")
    if len(src) == 0:
        raise ValueError("no sentences to retrieve")
    return knn(eng, src, 1, use_faiss)[1][:, 0]


def tatoeba_accuracy(source: np.ndarray, english: np.ndarray,
                     use_faiss: bool | None = None) -> float:
    """Tatoeba top-1 accuracy (0-100) as XTREME reports it: English row j is right iff the
    source row it retrieves is row j (its translation), see :func:`tatoeba_predictions`.

    Direction **en -> xx** (English queries, the non-English side is searched), per
    google-research/xtreme ``third_party/evaluate_retrieval.py`` (tatoeba branch of ``main``:
    ``similarity_search(x, y)`` with x = non-English, y = English) and
    ``third_party/utils_retrieve.py`` ``similarity_search`` (``idx.add(x)``,
    ``idx.search(y, 1)``). :func:`xstilts.core.metrics.retrieval_accuracy` searches xx -> en.
    """
    pred = tatoeba_predictions(source, english, use_faiss)
    return 100.0 * float(np.mean(pred == np.arange(len(pred))))


# --------------------------------------------------------------------------- mining (BUCC)


def mine(x: np.ndarray, y: np.ndarray, k: int = NEIGHBORHOOD, threshold: float = 0.0,
         use_faiss: bool | None = None) -> list[tuple[int, int, float]]:
    """Mined pairs ``(source row, target row, ratio-margin score)``, best first.

    XTREME's ``mine_bitext(mode="mine", retrieval="max", margin="ratio", dist="cosine")``: with
    x, y L2-normalised, ``fwd_mean[i]`` / ``bwd_mean[j]`` the mean similarity of x_i / y_j to
    its k nearest neighbours on the other side (k capped at that side's size), the score of a
    candidate is ``cos(x_i, y_j) / ((fwd_mean[i] + bwd_mean[j]) / 2)``. Every source sentence
    proposes its best-scoring target among its k neighbours and every target its best source;
    the proposals are taken by decreasing score, skipping one whose source or target was
    already taken, and kept when the score exceeds ``threshold``.
    """
    x, y = normalize(x), normalize(y)
    if len(x) == 0 or len(y) == 0:
        return []
    x2y_sim, x2y_ind = knn(x, y, min(len(y), k), use_faiss)
    y2x_sim, y2x_ind = knn(y, x, min(len(x), k), use_faiss)
    x2y_mean, y2x_mean = x2y_sim.mean(axis=1), y2x_sim.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 -> nan: never mined (as XTREME)
        fwd = x2y_sim / ((x2y_mean[:, None] + y2x_mean[x2y_ind]) / 2)
        bwd = y2x_sim / ((y2x_mean[:, None] + x2y_mean[y2x_ind]) / 2)
    fwd_arg, bwd_arg = fwd.argmax(axis=1), bwd.argmax(axis=1)
    rows_x, rows_y = np.arange(len(x)), np.arange(len(y))
    src = np.concatenate([rows_x, y2x_ind[rows_y, bwd_arg]])
    trg = np.concatenate([x2y_ind[rows_x, fwd_arg], rows_y])
    scores = np.concatenate([fwd[rows_x, fwd_arg], bwd[rows_y, bwd_arg]])
    seen_src: set[int] = set()
    seen_trg: set[int] = set()
    out = []
    for i in np.argsort(-scores, kind="stable"):
        s, t = int(src[i]), int(trg[i])
        if s in seen_src or t in seen_trg:
            continue
        seen_src.add(s)
        seen_trg.add(t)
        if scores[i] > threshold:
            out.append((s, t, float(scores[i])))
    return out


def unique_texts(ids: Sequence[str], texts: Sequence[str]) -> tuple[list[str], dict[int, str]]:
    """(unique texts in first-occurrence order, {unique index: sentence id}).

    XTREME embeds each distinct sentence once (``text_load_unify``) and maps a mined sentence
    back to its id only if the sentence occurs once in its file (``read_sent2id`` drops
    repeated sentences): repeated sentences get no id, so no pair of theirs is ever counted.
    """
    if len(ids) != len(texts):
        raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
    position: dict[str, int] = {}
    count: dict[str, int] = {}
    owner: dict[str, str] = {}
    for sid, text in zip(ids, texts, strict=True):
        position.setdefault(text, len(position))
        count[text] = count.get(text, 0) + 1
        owner.setdefault(text, sid)
    uniq = list(position)
    return uniq, {position[t]: owner[t] for t in uniq if count[t] == 1}


def candidate_scores(mined: Iterable[tuple[int, int, float]], src_ids: Mapping[int, str],
                     trg_ids: Mapping[int, str]) -> dict[tuple[str, str], float]:
    """Mined pairs keyed by (source id, target id) (``read_candidate2score``): pairs with a
    sentence that has no id (see :func:`unique_texts`) are dropped; duplicates keep the max."""
    out: dict[tuple[str, str], float] = {}
    for s, t, score in mined:
        if s in src_ids and t in trg_ids:
            key = (src_ids[s], trg_ids[t])
            out[key] = max(score, out.get(key, score))
    return out


def optimize_threshold(cand2score: Mapping[tuple[str, str], float],
                       gold: set[tuple[str, str]]) -> float:
    """The F1-optimal threshold on gold pairs (XTREME ``bucc_optimize``).

    Candidates sorted by decreasing score; after each one, P = correct / extracted and
    R = correct / |gold|; at the first strict F1 maximum the threshold is the midpoint of that
    candidate's score and the next one's (XTREME indexes past the end when the best is the
    last candidate; here that candidate's own score is used). 0 when nothing is correct.
    """
    if not gold:
        raise ValueError("no gold pairs to optimise the threshold on")
    items = sorted(cand2score.items(), key=lambda kv: -kv[1])
    extracted = correct = 0
    threshold, best_f1 = 0.0, 0.0
    for i, (pair, score) in enumerate(items):
        extracted += 1
        correct += pair in gold
        if correct:
            p, r = correct / extracted, correct / len(gold)
            f1 = 2 * p * r / (p + r)
            if f1 > best_f1:
                best_f1 = f1
                threshold = (score + items[i + 1][1]) / 2 if i + 1 < len(items) else score
    return threshold


def extract(cand2score: Mapping[tuple[str, str], float], threshold: float) -> set[tuple[str, str]]:
    """Pairs scored at or above ``threshold`` (XTREME ``bucc_extract``)."""
    return {pair for pair, score in cand2score.items() if score >= threshold}


def mining_prf(extracted: set[tuple[str, str]], gold: set[tuple[str, str]]) -> dict[str, float]:
    """Precision, recall, F1 (0-100) of extracted pairs against gold (XTREME ``bucc_eval``)."""
    if not gold:
        raise ValueError("no gold pairs")
    correct = len(extracted & gold)
    if correct == 0:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    p, r = correct / len(extracted), correct / len(gold)
    return {"f1": 100 * 2 * p * r / (p + r), "precision": 100 * p, "recall": 100 * r}


# --------------------------------------------------------------------------- ranking (mAP@k)


def average_precision_at_k(relevant: set[Hashable] | Sequence[Hashable],
                           ranked: Sequence[Hashable], k: int | None = TOP_K) -> float:
    """AP@k in [0, 1] (XTREME-R ``average_precision_at_k``): the sum over the top-k ranks r
    holding a not-yet-seen relevant item of (relevant items so far) / r, divided by
    ``min(#relevant, k)`` (by ``#relevant`` when k is None)."""
    relevant = set(relevant)
    if not relevant:
        raise ValueError("average precision needs at least one relevant item")
    top = list(ranked[:k]) if k else list(ranked)
    hits, score, seen = 0, 0.0, set()
    for rank, item in enumerate(top, 1):
        if item in relevant and item not in seen:
            hits += 1
            score += hits / rank
        seen.add(item)
    return score / (min(len(relevant), k) if k else len(relevant))


def rank_candidates(queries: np.ndarray, candidates: np.ndarray, k: int = TOP_K,
                    use_faiss: bool | None = None) -> np.ndarray:
    """``[len(queries), min(k, len(candidates))]`` candidate rows by decreasing cosine."""
    _, inds = knn(normalize(queries), normalize(candidates), min(k, len(candidates)), use_faiss)
    return inds
