"""Retrieval scoring (xstilts.core.retrieval, the retrieval functions of xstilts.core.evaluation and
phases.run_retrieval): worked examples computed by hand for BUCC mining F1 and mAP@20, the faiss
and numpy search paths, and the retrieve stage on small official-format files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from xstilts.core import evaluation, retrieval, stats
from xstilts.core.predictions import example_stats, prediction_file, read_predictions
from xstilts.tasks import REGISTRY

from .tasks.test_retrieval_readers import write_bucc_files, write_mewslix, write_xquad_r

SQRT3_2 = math.sqrt(3) / 2

# --------------------------------------------------------------------------- search


@pytest.mark.parametrize("use_faiss", [True, False])
def test_knn_exact_inner_product(use_faiss):
    if use_faiss and retrieval.faiss is None:
        pytest.skip("faiss not installed")
    db = retrieval.normalize(np.array([[1, 0], [0, 1], [1, 1], [-1, 0]], dtype=np.float32))
    q = retrieval.normalize(np.array([[1, 0.1], [0, -1]], dtype=np.float32))
    sims, inds = retrieval.knn(q, db, 2, use_faiss=use_faiss)
    assert inds.tolist() == [[0, 2], [3, 0]] or inds.tolist() == [[0, 2], [0, 3]]
    assert inds[0].tolist() == [0, 2]
    assert sims[0, 0] == pytest.approx(1 / math.sqrt(1.01), abs=1e-6)
    with pytest.raises(ValueError, match="k=5"):
        retrieval.knn(q, db, 5, use_faiss=use_faiss)


def test_normalize_keeps_zero_rows():
    out = retrieval.normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert out.tolist() == [[pytest.approx(0.6), pytest.approx(0.8)], [0.0, 0.0]]


# --------------------------------------------------------------------------- Tatoeba direction


def _unit_at(*degrees):
    return np.array([[math.cos(math.radians(d)), math.sin(math.radians(d))] for d in degrees],
                    dtype=np.float32)


@pytest.mark.parametrize("use_faiss", [True, False])
def test_tatoeba_searches_english_against_source_as_xtreme(use_faiss):
    """Source (xx) rows at 0, 90, 80 degrees, their English translations at 0, 90, 60.
    xx -> en: s2 (80) is nearer e1 (90, cos 10 = .985) than e2 (60, cos 20 = .940): 2/3 right.
    en -> xx (XTREME's similarity_search(x=xx, y=en): index xx, query en): e0 -> s0, e1 -> s1
    (cos 1), e2 (60) -> s2 (cos 20 = .940 > s1's cos 30 = .866 > s0's cos 60): 3/3 right."""
    from xstilts.core import metrics

    if use_faiss and retrieval.faiss is None:
        pytest.skip("faiss not installed")
    src, eng = _unit_at(0, 90, 80), _unit_at(0, 90, 60)
    assert retrieval.tatoeba_predictions(src, eng, use_faiss).tolist() == [0, 1, 2]
    assert retrieval.tatoeba_accuracy(src, eng, use_faiss) == pytest.approx(100.0)  # official
    assert metrics.retrieval_accuracy(src, eng) == pytest.approx(200 / 3)  # xx -> en differs
    # swapping the roles swaps the directions
    assert retrieval.tatoeba_accuracy(eng, src, use_faiss) == pytest.approx(200 / 3)
    with pytest.raises(ValueError, match="same shape"):
        retrieval.tatoeba_accuracy(src, eng[:2], use_faiss)


# --------------------------------------------------------------------------- BUCC mining

# x0 = (1, 0), x1 = (0, 1), x2 = (cos 30, sin 30); y0 = (1, 0), y1 = (0, 1), y2 = (-1, 0).
X = np.array([[1, 0], [0, 1], [SQRT3_2, 0.5]], dtype=np.float32)
Y = np.array([[1, 0], [0, 1], [-1, 0]], dtype=np.float32)


@pytest.mark.parametrize("use_faiss", [True, False])
def test_mine_worked_example(use_faiss):
    """k = 2. Forward means (x -> y): x0 {1, 0} 0.5, x1 {1, 0} 0.5, x2 {.866, .5} 0.683;
    backward means (y -> x): y0 {1, .866} 0.933, y1 {1, .5} 0.75, y2 {0, -.866} -0.433.
    Best proposals: x0->y0 and y0->x0: 1 / ((0.5 + 0.933) / 2) = 1.3957; x1->y1 and y1->x1:
    1 / ((0.5 + 0.75) / 2) = 1.6; x2->y0: 0.866 / ((0.683 + 0.933) / 2) = 1.0718; y2->x1: 0.
    Greedy by score: (1, 1) 1.6, (0, 0) 1.3957; (2, 0) loses y0 to x0; (1, 2) loses x1."""
    if use_faiss and retrieval.faiss is None:
        pytest.skip("faiss not installed")
    mined = retrieval.mine(X, Y, k=2, use_faiss=use_faiss)
    fwd0 = (1 + SQRT3_2) / 2
    assert [(s, t) for s, t, _ in mined] == [(1, 1), (0, 0)]
    assert mined[0][2] == pytest.approx(1 / ((0.5 + 0.75) / 2), rel=1e-5)
    assert mined[1][2] == pytest.approx(1 / ((0.5 + fwd0) / 2), rel=1e-5)
    # a threshold drops pairs scored at or below it (XTREME: `scores[i] > threshold`)
    assert [(s, t) for s, t, _ in retrieval.mine(X, Y, k=2, threshold=1.5,
                                                 use_faiss=use_faiss)] == [(1, 1)]


def test_mine_matches_brute_force_margin():
    """An independent O(n^2) re-implementation of LASER/XTREME's margin mining agrees."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 5)), rng.normal(size=(9, 5))
    xn, yn = retrieval.normalize(x).astype(np.float64), retrieval.normalize(y).astype(np.float64)
    sim = xn @ yn.T
    k = 4
    fwd_mean = np.sort(sim, axis=1)[:, ::-1][:, :k].mean(axis=1)
    bwd_mean = np.sort(sim.T, axis=1)[:, ::-1][:, :k].mean(axis=1)
    margin = sim / ((fwd_mean[:, None] + bwd_mean[None, :]) / 2)
    props = []
    for i in range(7):  # each source proposes its best among its k nearest targets
        nn = np.argsort(-sim[i])[:k]
        j = nn[np.argmax(margin[i, nn])]
        props.append((margin[i, j], i, j))
    for j in range(9):
        nn = np.argsort(-sim[:, j])[:k]
        i = nn[np.argmax(margin[nn, j])]
        props.append((margin[i, j], i, j))
    expected, seen_s, seen_t = [], set(), set()
    for score, i, j in sorted(props, key=lambda p: -p[0]):
        if i not in seen_s and j not in seen_t:
            seen_s.add(i)
            seen_t.add(j)
            if score > 0:
                expected.append((i, j))
    assert [(s, t) for s, t, _ in retrieval.mine(x, y)] == expected


def test_unique_texts_drop_repeated_sentences():
    uniq, ids = retrieval.unique_texts(["zh-1", "zh-2", "zh-3"], ["你好。", "再见。", "你好。"])
    assert uniq == ["你好。", "再见。"]
    assert ids == {1: "zh-2"}  # "你好。" occurs twice: no id, as XTREME's read_sent2id


# candidates of a dev split (zh-en, by decreasing score) and their gold; zh-6 is never mined
DEV = {("zh-1", "en-1"): 1.30, ("zh-2", "en-5"): 1.20, ("zh-3", "en-3"): 1.10,
       ("zh-4", "en-4"): 0.90, ("zh-5", "en-2"): 0.80}
DEV_GOLD = {("zh-1", "en-1"), ("zh-3", "en-3"), ("zh-4", "en-4"), ("zh-6", "en-6")}


def test_bucc_threshold_and_f1_worked_example():
    """Going down the list: after 1 pair P=1 R=1/4 F1=0.4 (t=(1.3+1.2)/2=1.25); 2: F1=1/3;
    3: P=2/3 R=1/2 F1=4/7 (t=1.0); 4: P=3/4 R=3/4 F1=0.75 (t=(0.9+0.8)/2=0.85); 5: P=3/5
    R=3/4 F1=2/3. Best threshold 0.85; extracting >= 0.85 gives P = R = F1 = 75."""
    threshold = retrieval.optimize_threshold(DEV, DEV_GOLD)
    assert threshold == pytest.approx(0.85)
    assert retrieval.extract(DEV, threshold) == set(list(DEV)[:4])
    assert retrieval.mining_prf(retrieval.extract(DEV, threshold), DEV_GOLD) == {
        "f1": pytest.approx(75.0), "precision": pytest.approx(75.0),
        "recall": pytest.approx(75.0)}
    # the dev threshold applied to a test split: 2 extracted, 1 correct -> P = R = F1 = 50
    test = {("zh-7", "en-7"): 0.95, ("zh-8", "en-9"): 0.86, ("zh-9", "en-8"): 0.84}
    gold = {("zh-7", "en-7"), ("zh-9", "en-8")}
    assert retrieval.mining_prf(retrieval.extract(test, threshold), gold) == {
        "f1": pytest.approx(50.0), "precision": pytest.approx(50.0),
        "recall": pytest.approx(50.0)}
    # the best is the last candidate (XTREME would index past the end): its own score
    assert retrieval.optimize_threshold(test, gold) == pytest.approx(0.84)
    assert retrieval.optimize_threshold({("a", "b"): 2.0}, {("x", "y")}) == 0.0  # none correct
    assert retrieval.mining_prf(set(), gold)["f1"] == 0.0


def test_candidate_scores_keyed_by_ids():
    mined = [(0, 1, 2.0), (1, 0, 1.5), (2, 2, 1.2)]
    out = retrieval.candidate_scores(mined, {0: "ru-1", 2: "ru-3"}, {0: "en-1", 1: "en-2"})
    assert out == {("ru-1", "en-2"): 2.0}  # ru row 1 and en row 2 have no id (repeated)


# --------------------------------------------------------------------------- mAP@20


def test_average_precision_at_k_worked_examples():
    # hits at ranks 2 and 4: (1/2 + 2/4) / min(3, 20) = 1/3
    assert retrieval.average_precision_at_k({"c1", "c2", "c3"},
                                            ["c5", "c1", "c9", "c3", "c7"]) == pytest.approx(1 / 3)
    # one relevant item (Mewsli-X): the reciprocal rank within the top 20, else 0
    assert retrieval.average_precision_at_k({"Q42"}, ["Q1", "Q2", "Q42"]) == pytest.approx(1 / 3)
    ranked = [f"Q{i}" for i in range(100, 125)]
    assert retrieval.average_precision_at_k({"Q42"}, [*ranked[:20], "Q42"]) == 0.0
    # more relevant items than k: normalised by k, so 20 hits in the top 20 give 1
    relevant = {f"c{i}" for i in range(25)}
    assert retrieval.average_precision_at_k(relevant, sorted(relevant)) == 1.0
    # a repeated prediction counts once (XTREME-R: `pred not in ranked_predictions[:i]`)
    assert retrieval.average_precision_at_k({"a", "b"}, ["a", "a", "b"]) == pytest.approx(
        (1 / 1 + 2 / 3) / 2)
    with pytest.raises(ValueError, match="relevant"):
        retrieval.average_precision_at_k(set(), ["a"])


def test_average_precision_without_cutoff_is_sklearns():
    """With k=None and a full ranking, AP equals sklearn's average_precision_score (the metric
    of XTREME-R's first LAReQA code, utils_lareqa.mean_avg_prec)."""
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    for _ in range(20):
        scores = rng.normal(size=30)
        y = (rng.random(30) < 0.2).astype(int)
        if not y.any():
            y[3] = 1
        ranked = list(np.argsort(-scores))
        ours = retrieval.average_precision_at_k(set(np.flatnonzero(y)), ranked, k=None)
        assert ours == pytest.approx(sklearn_metrics.average_precision_score(y, scores))


# --------------------------------------------------------------------------- evaluation


class _FakeEmbed:
    """evaluation.embed replaced by a lookup table text -> vector (records the calls)."""

    def __init__(self, table: dict[str, list[float]]):
        self.table = table
        self.calls: list[list[str]] = []

    def __call__(self, encoder, tokenizer, texts, *args, **kwargs):
        self.calls.append(list(texts))
        return np.array([self.table[t] for t in texts], dtype=np.float32).reshape(len(texts), -1)


def _ds(records):
    from datasets import Dataset

    from xstilts.tasks.core import RANKING_SCHEMA

    return Dataset.from_list(records, features=RANKING_SCHEMA)


def _q(i, text, lang, relevant=()):
    return {"id": i, "role": "query", "text": text, "lang": lang, "relevant": list(relevant)}


def _c(i, text, lang):
    return {"id": i, "role": "candidate", "text": text, "lang": lang, "relevant": []}


def test_predict_mining_on_russian(monkeypatch):
    """The dev threshold is applied to test; the per-sentence (tp, n_pred, n_gold) counts
    reproduce the corpus F1.

    dev: ru-1/en-1 and ru-2/en-2 are isolated exact pairs: 1 / ((1/4 + 1/3) / 2) = 3.4286
    (4 English and 3 Russian neighbours); ru-3 = .8 en-3 + .6 en-4 (no gold partner):
    .8 / ((.35 + .2667) / 2) = 2.5946. Best dev F1 (= 1) after the two gold pairs: threshold
    (3.4286 + 2.5946) / 2 = 3.0116. test: ru-7/en-8 and ru-8/en-9 exact pairs (3.4286) and
    ru-9 = .6 e4 + .8 en-10 mined with en-10 (3.4286) while its gold partner is en-7:
    3 extracted, 2 correct, 3 gold -> P = R = F1 = 2/3."""
    e = np.eye(8).tolist()
    near = (0.8 * np.eye(8)[6] + 0.6 * np.eye(8)[7]).tolist()
    fake = _FakeEmbed({
        "Я тебя люблю.": e[0], "I love you.": e[0],
        "Сегодня хорошая погода.": e[1], "The weather is nice today.": e[1],
        "Кошка спит.": near, "The cat sleeps.": e[6], "Nothing.": e[7],
        "Он читает книгу.": e[2], "He reads a book.": e[2],
        "Мы идём домой.": e[3], "We are going home.": e[3],
        "Без пары.": (0.6 * np.eye(8)[4] + 0.8 * np.eye(8)[7]).tolist(), "Unrelated.": e[5],
        "Nothing else.": e[7],
    })
    monkeypatch.setattr(evaluation, "embed", fake)
    dev = _ds([_q("ru-1", "Я тебя люблю.", "ru", ["en-1"]),
               _q("ru-2", "Сегодня хорошая погода.", "ru", ["en-2"]),
               _q("ru-3", "Кошка спит.", "ru"),  # no gold partner, but close to en-3
               _c("en-1", "I love you.", "en"), _c("en-2", "The weather is nice today.", "en"),
               _c("en-3", "The cat sleeps.", "en"), _c("en-4", "Nothing.", "en")])
    test = _ds([_q("ru-7", "Он читает книгу.", "ru", ["en-8"]),
                _q("ru-8", "Мы идём домой.", "ru", ["en-9"]),
                _q("ru-9", "Без пары.", "ru", ["en-7"]),  # gold, but orthogonal to everything
                _c("en-7", "Unrelated.", "en"), _c("en-8", "He reads a book.", "en"),
                _c("en-9", "We are going home.", "en"), _c("en-10", "Nothing else.", "en")])
    scores, detail = evaluation.predict_mining(None, None, dev, test, "mean", -1, 8, 32,
                                               "cpu", False)
    pair, ru3 = 1 / ((1 / 4 + 1 / 3) / 2), 0.8 / ((0.35 + 0.8 / 3) / 2)
    assert detail["threshold"] == pytest.approx((pair + ru3) / 2, rel=1e-5)
    assert scores == {"f1": pytest.approx(200 / 3), "precision": pytest.approx(200 / 3),
                      "recall": pytest.approx(200 / 3)}
    assert detail["ids"] == ["ru-7", "ru-8", "ru-9"]
    assert detail["predictions"] == {"ru-7": "en-8", "ru-8": "en-9", "ru-9": "en-10"}
    # the three test pairs tie (3.4286): no threshold separates them, the optimum is the same
    assert detail["test_optimal_f1"] == pytest.approx(200 / 3)
    arr, kind = example_stats({"type": "retrieval", **detail}, "f1")
    assert kind == stats.F1 and stats.score(arr, kind) == pytest.approx(scores["f1"])


def test_predict_ranking_lareqa_style(monkeypatch):
    """Two questions (German, Chinese) over a 4-sentence pool; cosine ranking; AP@20."""
    fake = _FakeEmbed({
        "Wo liegt Paris?": [1, 0, 0], "巴黎在哪里？": [0.6, 0.8, 0],
        "Paris liegt in Frankreich.Ctx": [1, 0, 0], "巴黎位于法国。Ctx": [0.9, 0.1, 0],
        "Berlin ist groß.Ctx": [0, 1, 0], "柏林很大。Ctx": [0, 0, 1],
    })
    monkeypatch.setattr(evaluation, "embed", fake)
    pool = _ds([_c("de_1_0", "Paris liegt in Frankreich.Ctx", "de"),
                _c("de_1_1", "Berlin ist groß.Ctx", "de"),
                _c("zh_1_0", "巴黎位于法国。Ctx", "zh"), _c("zh_1_1", "柏林很大。Ctx", "zh")])
    ids, emb = evaluation.embed_pool(None, None, pool, "mean", -1, 8, 32, "cpu", False)
    queries = _ds([_q("q1_de", "Wo liegt Paris?", "de", ["de_1_0", "zh_1_0"]),
                   _q("q1_zh", "巴黎在哪里？", "zh", ["de_1_0", "zh_1_0"])])
    scores, detail = evaluation.predict_ranking(None, None, queries, ids, emb, "mean", -1, 8,
                                                32, "cpu", False)
    # q1_de ranks de_1_0 (1.0), zh_1_0 (0.994), ...: AP = (1 + 1) / 2 = 1
    # q1_zh: cos with de_1_0 0.6, de_1_1 0.8, zh_1_0 0.685, zh_1_1 0 -> de_1_1, zh_1_0, de_1_0:
    # AP = (1/2 + 2/3) / 2 = 7/12
    assert detail["predictions"]["q1_zh"] == ["de_1_1", "zh_1_0", "de_1_0", "zh_1_1"]
    assert detail["per_example"]["map_at_20"] == [pytest.approx(1.0), pytest.approx(7 / 12)]
    assert scores == {"map_at_20": pytest.approx(100 * (1 + 7 / 12) / 2)}
    arr, kind = example_stats({"type": "retrieval", **detail}, "map_at_20")
    assert stats.score(arr, kind) == pytest.approx(scores["map_at_20"])
    # a relevant candidate missing from the pool (subsampled by max_eval) is ignored
    q = _ds([_q("q2", "Wo liegt Paris?", "de", ["de_1_0", "gone"]),
             _q("q3", "Wo liegt Paris?", "de", ["gone"])])
    scores, detail = evaluation.predict_ranking(None, None, q, ids, emb, "mean", -1, 8, 32,
                                                "cpu", False)
    assert detail["ids"] == ["q2"] and scores["map_at_20"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="role"):
        evaluation.predict_ranking(None, None, pool, ids, emb, "mean", -1, 8, 32, "cpu", False)


def test_tasks_declare_retrieval_kind_and_metric():
    kinds = {n: (REGISTRY[n].retrieval_kind, REGISTRY[n].metric)
             for n in ("tatoeba", "tatoeba_r", "xname_retrieval", "bucc", "lareqa", "mewslix")}
    assert kinds == {"tatoeba": ("pairs", "acc"), "tatoeba_r": ("pairs", "acc"),
                     "xname_retrieval": ("pairs", "acc"), "bucc": ("mining", "f1"),
                     "lareqa": ("ranking", "map_at_20"), "mewslix": ("ranking", "map_at_20")}
    assert REGISTRY["xnli"].retrieval_kind is None


# --------------------------------------------------------------------------- retrieve stage


@pytest.fixture(scope="module")
def stage(tmp_path_factory, tiny_encoder_dir):
    """bucc, lareqa and mewslix prepared from small official-format files, and the `none`
    intermediate checkpoint (the tiny random encoder), in a temporary working directory."""
    from xstilts.core import data, families, paths, prepare_model
    from xstilts.core.params import parse_params

    from .test_cell import small_params

    tmp = tmp_path_factory.mktemp("retrieve")
    write_bucc_files(tmp / "bucc", "zh")
    write_xquad_r(tmp / "lareqa")
    write_mewslix(tmp / "mewslix")
    raw = small_params(tiny_encoder_dir, tmp)
    raw["model"]["trim_vocab"] = False
    raw["intermediate"]["tasks"] = ["none"]
    raw["intermediate"]["hparams"] = {"none": None}
    raw["tasks"]["bucc"] = {"source": "local", "path": str(tmp / "bucc"), "languages": ["zh"]}
    raw["tasks"]["lareqa"] = {"source": "local", "path": str(tmp / "lareqa"),
                              "languages": ["de", "zh"]}
    raw["tasks"]["mewslix"] = {"source": "local", "path": str(tmp / "mewslix"),
                               "languages": ["ja", "uk"]}
    raw["evaluate"]["retrieval_tasks"] = ["xname_retrieval", "bucc", "lareqa", "mewslix"]
    p = parse_params(yaml.safe_dump(raw))
    mp = pytest.MonkeyPatch()
    mp.chdir(tmp)
    for name in ("bucc", "lareqa", "mewslix"):
        data.prepare_task(name, p.tasks[name], paths.DATA / name)
    prepare_model.prepare_model_stage(p)
    families.run_stage(p, "intermediate", "none", 0)
    yield tmp, p
    mp.undo()


@pytest.mark.parametrize("target,langs,metric", [
    ("bucc", {"zh"}, "f1"), ("lareqa", {"de", "zh"}, "map_at_20"),
    ("mewslix", {"ja", "uk"}, "map_at_20"),
])
def test_run_retrieval_dispatches_on_kind(stage, monkeypatch, target, langs, metric):
    from xstilts.core import families, paths

    tmp, p = stage
    monkeypatch.chdir(tmp)
    res = families.run_stage(p, "retrieve", "none", target, 0)
    assert res.metric == metric and set(res.languages) == langs
    saved = json.loads(paths.eval_file("none", target, 0).read_text())
    for lang, scores in saved["languages"].items():
        assert 0.0 <= scores[metric] <= 100.0
        rec = read_predictions(prediction_file("none", target, 0, lang))
        assert rec["metric"] == metric and list(rec["predictions"]) == rec["ids"]
        arr, kind = example_stats(rec, metric)  # the report's significance test reads these
        assert stats.score(arr, kind) == pytest.approx(scores[metric])
        if target == "bucc":
            assert rec["ids"] == [f"zh-00000000{i}" for i in range(1, 5)]
            assert rec["predictions"]["zh-000000001"] == ""  # repeated sentence: never mined
            assert set(scores) == {"f1", "precision", "recall"} and "threshold" in rec
        else:
            assert all(len(v) <= 20 for v in rec["predictions"].values())
    if target == "lareqa":  # the pool spans all languages of the release (en, de, zh)
        rec = read_predictions(prediction_file("none", target, 0, "de"))
        pool = {c for v in rec["predictions"].values() for c in v}
        assert {c.split("_")[0] for c in pool} == {"en", "de", "zh"}


@pytest.mark.parametrize("pooling, layer", [("mean", -1), ("cls", 1), ("mean", 0)])
def test_retrieval_max_length_param_truncates_every_text(stage, monkeypatch, pooling, layer):
    """evaluate.retrieval.{max_length, pooling, layer} reach the stage: every query and
    candidate is cut to max_length (LAReQA contexts are longer than 6 tokens), and the vectors
    are the truncated token ids' hidden states of that layer, pooled that way."""
    import torch

    from xstilts.core import families, features, paths
    from xstilts.core.modeling import load_encoder, pool

    tmp, p = stage
    monkeypatch.chdir(tmp)
    r = p.evaluate.retrieval.model_copy(
        update={"max_length": 6, "pooling": pooling, "layer": layer})
    p6 = p.model_copy(update={"evaluate": p.evaluate.model_copy(update={"retrieval": r})})
    seen: list[tuple[int, list[str], list[int]]] = []
    real_features, real_embed = evaluation.retrieval_features, evaluation.embed

    def spy(texts, tokenizer, max_length):
        rows = real_features(texts, tokenizer, max_length)
        seen.append((max_length, list(texts), [features.length(row) for row in rows]))
        return rows

    vectors: list[tuple[object, list[str], np.ndarray]] = []

    def keep(encoder, tokenizer, texts, *args, **kwargs):
        out = real_embed(encoder, tokenizer, texts, *args, **kwargs)
        vectors.append((encoder, list(texts), out))
        return out

    monkeypatch.setattr(evaluation, "retrieval_features", spy)
    monkeypatch.setattr(evaluation, "embed", keep)
    families.run_stage(p6, "retrieve", "none", "lareqa", 0)
    assert seen and {m for m, _, _ in seen} == {6}
    assert max(n for _, _, lengths in seen for n in lengths) == 6
    encoder, texts, out = vectors[0]
    tokenizer = load_encoder(paths.intermediate_dir("none", 0), False)[1]
    full = tokenizer(texts)["input_ids"]
    assert any(len(ids) > 6 for ids in full)  # truncation did happen
    j = next(i for i, ids in enumerate(full) if len(ids) > 6)
    ids = torch.tensor([tokenizer(texts[j], truncation=True, max_length=6)["input_ids"]])
    assert ids.shape[1] == 6
    with torch.no_grad():
        hs = encoder(input_ids=ids, attention_mask=torch.ones_like(ids),
                     output_hidden_states=True).hidden_states
    want = pool(hs[layer].float(), torch.ones_like(ids), pooling)[0].numpy()
    np.testing.assert_allclose(out[j], want, atol=1e-5)
    if pooling == "cls":  # the first token's vector, not the mean
        np.testing.assert_allclose(out[j], hs[layer][0, 0].float().numpy(), atol=1e-5)


def test_prepared_ranking_splits(stage):
    from xstilts.core import paths
    from xstilts.core.data import load_split

    tmp, _ = stage
    cands = load_split(tmp / paths.DATA, "mewslix", "en", "candidates", "evaluate")
    assert set(cands["role"]) == {"candidate"} and "Q1490" in cands["id"]
    counts = json.loads((tmp / paths.DATA / "lareqa" / "task.json").read_text())
    assert counts["type"] == "retrieval"
    assert Path(tmp / paths.DATA / "bucc" / "zh" / "dev").is_dir()


def test_predict_retrieval_scores_tatoeba_en_to_xx(monkeypatch):
    """The retrieve stage's pairs scoring uses XTREME's direction (English queries): with the
    embeddings of test_tatoeba_searches_english_against_source_as_xtreme it scores 100, where
    xx -> en would give 66.7; the detail lists, per pair, the source row its English retrieves."""
    from datasets import Dataset

    vec = dict(zip(["s0", "s1", "s2", "e0", "e1", "e2"],
                   np.concatenate([_unit_at(0, 90, 80), _unit_at(0, 90, 60)]), strict=True))
    monkeypatch.setattr(evaluation, "embed",
                        lambda enc, tok, texts, *a, **k: np.stack([vec[t] for t in texts]))
    ds = Dataset.from_dict({"id": ["a", "b", "c"], "source": ["s0", "s1", "s2"],
                            "target": ["e0", "e1", "e2"]})
    score, detail = evaluation.predict_retrieval(None, None, ds, "mean", -1, 8, 16, None, False)
    assert score == {"acc": pytest.approx(100.0)}
    assert detail["predictions"] == {"a": 0, "b": 1, "c": 2} and detail["direction"] == "en->xx"
    vec["e2"] = _unit_at(170)[0]  # now e2's nearest source is s1 (cos 80 > s2's cos 90)
    score, detail = evaluation.predict_retrieval(None, None, ds, "mean", -1, 8, 16, None, False)
    assert score == {"acc": pytest.approx(200 / 3)} and detail["per_example"]["acc"] == [1, 1, 0]
