"""Tokenize once: cached features are exactly the computed ones, keyed by everything they
depend on, and a broken cache entry is recomputed, never read."""

from __future__ import annotations

import json
import logging

import pytest
from datasets import Dataset

from xstilts.core import feature_cache
from xstilts.core.features import _featurize, featurize
from xstilts.tasks import get_task

CASES = [  # (task, max_length, train)
    ("cldr_region", 32, True),  # classification
    ("xcat_pair", 32, True),  # pair classification
    ("xcat_choice", 32, True),  # multiple choice: nested input_ids
    ("xcat_qa", 48, True),  # span QA train: start/end positions
    ("xcat_qa", 48, False),  # span QA eval: offsets with None, example ids
    ("xcat_tag", 24, True),  # tagging: chunks, word starts
]


def _plain(rows: list[dict]) -> str:
    """Rows as canonical JSON (tuples and lists alike): what the consumers index into."""
    return json.dumps(rows, sort_keys=True)


@pytest.fixture()
def cache_dir(tmp_path):
    feature_cache.configure(tmp_path / "features")
    feature_cache.clear_memory()
    yield tmp_path / "features"
    feature_cache.configure(None)
    feature_cache.clear_memory()


def _split(name: str, n: int = 40) -> Dataset:
    data = get_task(name).embedded(0)
    return Dataset.from_list(list(data[("en", "train")])[:n])


@pytest.mark.parametrize(("name", "max_length", "train"), CASES)
def test_cached_rows_equal_computed(cache_dir, xlmr_tokenizer, name, max_length, train):
    task, ds = get_task(name), _split(name)
    want = _featurize(task, ds, xlmr_tokenizer, max_length, 16, train)
    assert want
    first = featurize(task, ds, xlmr_tokenizer, max_length, 16, train)
    assert _plain(first) == _plain(want)
    assert feature_cache.stats["computed"] >= 1
    feature_cache.clear_memory()  # as a later stage: from disk
    before = feature_cache.stats["disk"]
    again = featurize(task, ds, xlmr_tokenizer, max_length, 16, train)
    assert feature_cache.stats["disk"] == before + 1
    assert _plain(again) == _plain(want)
    # an identical copy of the data (new object, same content) hits the same entry
    copy = Dataset.from_list(ds.to_list())
    assert feature_cache.feature_key(task, copy, xlmr_tokenizer, max_length, 16, train) == \
        feature_cache.feature_key(task, ds, xlmr_tokenizer, max_length, 16, train)


def test_key_depends_on_every_input(cache_dir, xlmr_tokenizer, tiny_encoder_dir):
    from transformers import AutoTokenizer

    task, ds = get_task("xcat_pair"), _split("xcat_pair")
    key = feature_cache.feature_key
    base = key(task, ds, xlmr_tokenizer, 32, 16, True)
    others = {
        key(task, ds, xlmr_tokenizer, 24, 16, True),  # max length
        key(task, ds, xlmr_tokenizer, 32, 8, True),  # stride
        key(task, ds, xlmr_tokenizer, 32, 16, False),  # train / eval features
        key(task, ds.select(range(10)), xlmr_tokenizer, 32, 16, True),  # data
        key(get_task("xcat_choice"), ds, xlmr_tokenizer, 32, 16, True),  # task
    }
    assert base not in others and len(others) == 5
    # calls set the tokenizer's truncation/padding state: the key ignores it
    xlmr_tokenizer(["a b c"], truncation=True, max_length=7, padding="max_length")
    feature_cache._tokenizer_hashes.clear()
    assert key(task, ds, xlmr_tokenizer, 32, 16, True) == base
    # the same vocabulary saved and loaded again: same key; another tokenizer: another key
    same = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    assert key(task, ds, same, 32, 16, True) == base
    bos_is_eos = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    bos_is_eos.bos_token = bos_is_eos.eos_token  # same pieces, other roles: another key
    feature_cache._tokenizer_hashes.clear()
    assert key(task, ds, bos_is_eos, 32, 16, True) != base
    same.truncation_side = "left"
    feature_cache._tokenizer_hashes.clear()
    assert key(task, ds, same, 32, 16, True) != base


def test_broken_entry_is_recomputed(cache_dir, xlmr_tokenizer, caplog):
    task, ds = get_task("xcat_pair"), _split("xcat_pair")
    want = _plain(featurize(task, ds, xlmr_tokenizer, 32, 16, True))
    entries = [p for p in cache_dir.rglob("rows.json")]
    assert len(entries) == 1
    arrow = entries[0].parent / "arrow"
    for f in arrow.glob("*.arrow"):
        f.write_bytes(f.read_bytes()[:100])  # truncated, as by a full disk
    feature_cache.clear_memory()
    computed = feature_cache.stats["computed"]
    with caplog.at_level(logging.WARNING, logger="xstilts.core.feature_cache"):
        got = featurize(task, ds, xlmr_tokenizer, 32, 16, True)
    assert _plain(got) == want
    assert feature_cache.stats["computed"] == computed + 1
    assert "unreadable entry" in caplog.text
    feature_cache.clear_memory()
    assert _plain(featurize(task, ds, xlmr_tokenizer, 32, 16, True)) == want  # rewritten


def test_no_folder_means_memory_only(tmp_path, xlmr_tokenizer):
    feature_cache.configure(None)
    feature_cache.clear_memory()
    task, ds = get_task("xcat_pair"), _split("xcat_pair")
    a = featurize(task, ds, xlmr_tokenizer, 32, 16, True)
    b = featurize(task, ds, xlmr_tokenizer, 32, 16, True)
    assert a is b  # the dev set of every evaluation in a run is tokenized once
    assert not any(tmp_path.iterdir())
    feature_cache.clear_memory()
