"""Tagging alignment (`label_piece`): which sub-word carries a word's tag, on real CJK text, in
training features, decoding, checkpoints, metrics files, MLflow and the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from datasets import Dataset
from mlflow.tracking import MlflowClient

from xstilts.core import cell, data, families, feature_cache, paths, prepare_model
from xstilts.core.evaluation import decode_tags
from xstilts.core.features import IGNORE, bare_marker_ids, featurize
from xstilts.core.params import ParamsError, parse_params
from xstilts.tasks import SCHEMAS, get_task
from xstilts.tasks.readers import read_conllu

from .conftest import SHARED_REAL
from .test_cell import small_params

UD = SHARED_REAL / "ud"


def _ud(name: str) -> list[dict]:
    path = UD / name
    if not path.is_file():
        pytest.skip(f"real UD file {path} not found (only on the shared workspace)")
    return read_conllu(path)


def _dataset(records: list[dict]) -> Dataset:
    rows = [{"id": r["id"], "tokens": r["tokens"], "tags": r["tags"]} for r in records]
    return Dataset.from_list(rows, features=SCHEMAS[get_task("udpos").type])


def _labelled(rows: list[dict], tokenizer) -> list[tuple[str, str]]:
    """(labelled piece, its tag) for every labelled position of every row, in order."""
    labels = get_task("udpos").labels
    out = []
    for row in rows:
        pieces = tokenizer.convert_ids_to_tokens(row["input_ids"])
        out += [(pieces[pos], labels[row["labels"][pos]]) for pos in row["word_starts"]]
    return out


def test_japanese_sentence_label_pieces(xlmr_tokenizer):
    """日本 / 語 / を / 話す: XLM-R splits the last three as a bare '▁' + the characters."""
    words, tags = ["日本", "語", "を", "話す"], ["PROPN", "NOUN", "ADP", "VERB"]
    ds = _dataset([{"id": "ja", "tokens": words, "tags": tags}])
    task = get_task("udpos")
    first = _labelled(featurize(task, ds, xlmr_tokenizer, 64), xlmr_tokenizer)
    content = _labelled(featurize(task, ds, xlmr_tokenizer, 64, label_piece="first_content"),
                        xlmr_tokenizer)
    assert first == [("▁日本", "PROPN"), ("▁", "NOUN"), ("▁", "ADP"), ("▁", "VERB")]
    assert content == [("▁日本", "PROPN"), ("語", "NOUN"), ("を", "ADP"), ("話す", "VERB")]


def test_chinese_ud_label_pieces(xlmr_tokenizer):
    """Real zh GSD test: under `first` most words carry their tag on the same '▁' piece; under
    `first_content` every word carries it on its first piece that is not a bare marker."""
    records = _ud("zh_gsd-ud-test.conllu")
    ds = _dataset(records)
    task = get_task("udpos")
    bare = bare_marker_ids(xlmr_tokenizer)
    assert {xlmr_tokenizer.convert_ids_to_tokens(i) for i in bare} >= {"▁"}
    rows_first = featurize(task, ds, xlmr_tokenizer, 512)
    rows_content = featurize(task, ds, xlmr_tokenizer, 512, label_piece="first_content")
    first, content = _labelled(rows_first, xlmr_tokenizer), _labelled(rows_content,
                                                                       xlmr_tokenizer)
    n_words = sum(len(r["tokens"]) for r in records)
    assert len(first) == len(content) == n_words
    assert [t for _, t in first] == [t for _, t in content]  # same tags, same word order
    on_marker = sum(p == "▁" for p, _ in first) / n_words
    assert on_marker > 0.5, on_marker  # the defect: most Chinese words share one label piece
    # first_content: the first non-bare piece of each word, recomputed from the word ids
    for row in rows_content:
        enc = xlmr_tokenizer(ds[row["sentence"]]["tokens"], is_split_into_words=True)
        assert enc["input_ids"] == row["input_ids"]  # no chunking at 512 on this file
        word_ids = enc.word_ids()
        for pos, w in zip(row["word_starts"], row["start_words"], strict=True):
            where = [q for q, x in enumerate(word_ids) if x == w]
            content_pos = [q for q in where if row["input_ids"][q] not in bare]
            assert pos == (content_pos[0] if content_pos else where[0])
            assert all(row["labels"][q] == IGNORE for q in where if q != pos)
    assert sum(p == "▁" for p, _ in content) == 0
    # the two alignments are cached under different keys (the old key is kept for `first`)
    tok = xlmr_tokenizer
    ds._fingerprint = "zh-test"
    keys = {piece: feature_cache.feature_key(task, ds, tok, 128, 42, False, piece)
            for piece in ("first", "first_content")}
    assert keys["first"] == feature_cache.feature_key(task, ds, tok, 128, 42, False)
    assert keys["first"] != keys["first_content"]


@pytest.mark.parametrize("piece", ["first", "first_content"])
@pytest.mark.parametrize("name", ["zh_gsd-ud-test.conllu", "en_ewt-ud-dev.conllu"])
def test_predictions_map_back_one_tag_per_word(xlmr_tokenizer, name, piece):
    """Every word of a real CoNLL-U file gets exactly one predicted tag, read at the piece its
    label was trained on (max_length 24 cuts long sentences into chunks)."""
    records = _ud(name)
    ds = _dataset(records)
    task = get_task("udpos")
    rows = featurize(task, ds, xlmr_tokenizer, 24, label_piece=piece)
    assert len(rows) > len(records)  # chunked
    rng = np.random.default_rng(0)
    logits = []
    for row in rows:  # random scores, +10 on the trained label at each labelled position
        x = rng.normal(size=(len(row["input_ids"]), task.num_labels))
        for pos, lab in enumerate(row["labels"]):
            if lab != IGNORE:
                x[pos, lab] += 10
        logits.append(x)
    preds = decode_tags(task, rows, logits, len(records))
    assert [len(p) for p in preds] == [len(r["tokens"]) for r in records]
    assert preds == [r["tags"] for r in records]


def _raw(tmp: Path, encoder_dir: Path) -> dict:
    raw = small_params(encoder_dir, tmp)
    raw["tasks"]["xcat_tag_fc"] = {"source": "embedded", "max_train": 48, "max_eval": 16,
                                   "variant_of": "xcat_tag"}
    raw["target"]["tasks"] = ["xcat_tag", "xcat_tag_fc"]
    hp = {"epochs": 1, "max_length": 48, "batch_size": 16}
    raw["target"]["hparams"] = {"xcat_tag": hp, "xcat_tag_fc": {**hp,
                                                                "label_piece": "first_content"}}
    raw["intermediate"]["tasks"] = ["none"]
    raw["intermediate"]["hparams"] = {"none": None}
    raw["evaluate"]["retrieval_tasks"] = []
    del raw["tasks"]["xname_retrieval"]
    return raw


def test_params_refuse_label_piece_off_tagging_and_bad_variants(tmp_path, tiny_encoder_dir):
    raw = _raw(tmp_path, tiny_encoder_dir)
    parse_params(yaml.safe_dump(raw))  # valid
    bad = json.loads(json.dumps(raw))
    bad["target"]["tasks"].append("xcat_pair")
    bad["target"]["hparams"]["xcat_pair"] = {"label_piece": "first_content"}
    with pytest.raises(ParamsError, match=r"target\.hparams\.xcat_pair\.label_piece: "
                                          r"'first_content' applies to tagging tasks only"):
        parse_params(yaml.safe_dump(bad))
    bad = json.loads(json.dumps(raw))
    bad["target"]["hparams"]["xcat_tag"]["label_piece"] = "last"
    with pytest.raises(ParamsError, match=r"label_piece"):
        parse_params(yaml.safe_dump(bad))
    bad = json.loads(json.dumps(raw))
    bad["tasks"]["xcat_tag_fc"]["variant_of"] = "no_such_task"
    with pytest.raises(ParamsError, match=r"tasks\.xcat_tag_fc\.variant_of: .*unknown task "
                                          r"'no_such_task'"):
        parse_params(yaml.safe_dump(bad))
    bad = json.loads(json.dumps(raw))
    bad["tasks"]["xcat_pair"] = {"source": "embedded", "variant_of": "xcat_tag"}
    with pytest.raises(ParamsError, match=r"tasks\.xcat_pair\.variant_of: 'xcat_pair' is a "
                                          r"registered task"):
        parse_params(yaml.safe_dump(bad))


def test_alignment_travels_with_the_checkpoint_to_metrics_mlflow_and_report(
        tmp_path, tiny_encoder_dir, monkeypatch):
    """A target and its `first_content` variant: each checkpoint's head.json names its
    alignment, evaluation featurizes with it (whatever today's params say), and the metrics
    file, the MLflow run and the report say which alignment produced the numbers."""
    monkeypatch.chdir(tmp_path)
    p = parse_params(yaml.safe_dump(_raw(tmp_path, tiny_encoder_dir)))
    assert get_task("xcat_tag_fc").labels == get_task("xcat_tag").labels
    for name, src in p.tasks.items():
        data.prepare_task(name, src, paths.DATA / name)
    prepare_model.prepare_model_stage(p)
    families.run_stage(p, "intermediate", "none", 0)
    for target, piece in (("xcat_tag", "first"), ("xcat_tag_fc", "first_content")):
        families.run_stage(p, "target", "none", target, 0)
        head = json.loads((paths.target_dir("none", target, 0) / "head.json").read_text())
        assert (head["label_piece"], head["max_length"], head["doc_stride"]) == (piece, 48, 16)
    # evaluation reads the alignment from the checkpoint, not from params
    raw = _raw(tmp_path, tiny_encoder_dir)
    raw["target"]["hparams"]["xcat_tag_fc"]["label_piece"] = "first"
    raw["target"]["hparams"]["xcat_tag_fc"]["max_length"] = 8  # nor its max_length
    p = parse_params(yaml.safe_dump(raw))
    seen = []
    import xstilts.core.evaluation as ev

    real = ev.featurize

    def spy(*a, **k):
        seen.append(k.get("label_piece"))
        assert a[3] == 48, "evaluation must use the checkpoint's max_length (head.json)"
        return real(*a, **k)

    monkeypatch.setattr(ev, "featurize", spy)
    results = {t: cell.run_evaluate(*families.resolve(p, "target", ["none", t, "0"]))
               for t in ("xcat_tag", "xcat_tag_fc")}
    n_langs = len(results["xcat_tag"].languages)
    assert seen == ["first"] * n_langs + ["first_content"] * n_langs
    for target, piece in (("xcat_tag", "first"), ("xcat_tag_fc", "first_content")):
        on_disk = json.loads(paths.eval_file("none", target, 0).read_text())
        assert on_disk["label_piece"] == piece
        client = MlflowClient(p.tracking.uri)
        exp = client.get_experiment_by_name(p.tracking.experiment)
        runs = client.search_runs([exp.experiment_id],
                                  f"tags.dvc_eval_stage = 'target@none-{target}-0'")
        assert [r.data.tags.get("label_piece") for r in runs] == [piece]
    from xstilts.analysis.report import write_report

    write_report(p, tmp_path / "reports")
    text = (tmp_path / "reports" / "results.md").read_text()
    assert "| intermediate task | xcat_tag | xcat_tag_fc [first_content] | avg |" in text
    assert "### xcat_tag_fc (f1; label_piece: first_content)" in text
    assert "### xcat_tag (f1; label_piece: first)" in text
    assert "not XTREME's alignment" in text


@pytest.mark.parametrize("profile", ["paper.yaml", "xtreme_r.yaml"])
def test_paper_profiles_keep_xtremes_alignment(profile):
    """Leaderboard comparability: the paper profiles tag the first sub-word, as XTREME."""
    from xstilts.core.params import load_params

    p = load_params(Path(__file__).resolve().parents[1] / "profiles" / profile)
    tagging = [t for t in p.target.tasks if get_task(t).type == "tagging"]
    assert tagging and all(p.target.hparams[t].label_piece == "first" for t in tagging)
