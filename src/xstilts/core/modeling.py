"""One shared encoder plus a task head chosen by task type; safetensors checkpoints.

Checkpoint folder layout (every phase):
    encoder/            transformers `save_pretrained` folder (safetensors) + tokenizer
    head.safetensors    the task head's weights (absent for the `none` baseline)
    head.json           task name, type, labels, head class and pooling
A multi-task (mixture) checkpoint has `heads/<head>.safetensors` instead of `head.safetensors`
and a `head.json` mapping each member task to its head; its `encoder/` is the same as above, so
the target phase starts from it like from any intermediate checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from xstilts.core.base_model import save_tokenizer
from xstilts.tasks import Task, TaskType
from xstilts.tasks.core import LABEL_PIECES

HEADS: dict[TaskType, type[nn.Module]] = {}


def register_head(*types: TaskType):
    """Class decorator: the head used for these task types."""

    def wrap(cls: type[nn.Module]) -> type[nn.Module]:
        for t in types:
            HEADS[t] = cls
        return cls

    return wrap


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """[B, L, H] hidden states -> [B, H] sentence vectors (cls: first token; mean: masked mean;
    last: the last position where `mask` is 1, i.e. the last real token of a right-padded row,
    the one a decoder-only LM has computed over the whole input)."""
    if how == "cls":
        return hidden[:, 0]
    if how == "mean":
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
    if how == "last":
        positions = torch.arange(mask.shape[1], device=mask.device)
        last = (positions * (mask > 0)).amax(1)  # 0 for an all-pad row
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise ValueError(f"unknown pooling {how!r} (expected cls, mean or last)")


class _SequenceScorer(nn.Module):
    """Pooled sentence vector -> dense/tanh -> n outputs (as RoBERTa's classification head)."""

    def __init__(self, hidden: int, n_out: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, n_out)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.dense(self.dropout(pooled)))
        return self.out(self.dropout(x))


@register_head(TaskType.CLASSIFICATION, TaskType.PAIR_CLASSIFICATION)
class ClassificationHead(_SequenceScorer):
    def __init__(self, hidden: int, num_labels: int, dropout: float):
        super().__init__(hidden, num_labels, dropout)


@register_head(TaskType.MULTIPLE_CHOICE)
class MultipleChoiceHead(_SequenceScorer):
    """Scores each (context, choice) sequence; logits are reshaped to [B, C] by the model."""

    def __init__(self, hidden: int, num_labels: int, dropout: float):
        super().__init__(hidden, 1, dropout)


@register_head(TaskType.SPAN_QA)
class SpanHead(nn.Module):
    """Token states -> start and end logits."""

    def __init__(self, hidden: int, num_labels: int, dropout: float):
        super().__init__()
        self.out = nn.Linear(hidden, 2)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.out(hidden)


@register_head(TaskType.TAGGING)
class TaggingHead(nn.Module):
    def __init__(self, hidden: int, num_labels: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, num_labels)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(hidden))


def make_head(task: Task, hidden: int, dropout: float) -> nn.Module:
    """A freshly initialised head for `task` (draws from torch's global RNG)."""
    if task.type not in HEADS:
        raise ValueError(f"no head for task type {task.type} (task {task.name})")
    return HEADS[task.type](hidden, max(task.num_labels, 1), dropout)


class TaskModel(nn.Module):
    """Encoder + head for one task; `forward(batch)` returns task logits.

    Shapes: classification [B, K]; multiple choice [B, C] (input [B, C, L]); span QA
    [B, L, 2]; tagging [B, L, K].
    """

    def __init__(self, encoder: PreTrainedModel, task: Task, pooling: str, dropout: float,
                 head: nn.Module | None = None, label_piece: str = "first"):
        super().__init__()
        self.encoder = encoder
        self.task_name = task.name
        self.task_type = task.type
        self.labels = list(task.labels)
        self.pooling = pooling
        # tagging: the sub-word that carries each word's tag (xstilts.core.features.LABEL_PIECES),
        # in training and in evaluation alike; saved in head.json with the checkpoint
        self.label_piece = label_piece if task.type == TaskType.TAGGING else "first"
        self.run_settings: dict = {}  # a loaded checkpoint's max_length / doc_stride (head.json)
        # `head` given: a view sharing that head (multi-task); else a fresh one
        self.head = head if head is not None else make_head(task, encoder.config.hidden_size,
                                                             dropout)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ids, mask = batch["input_ids"], batch["attention_mask"]
        if self.task_type == TaskType.MULTIPLE_CHOICE:
            b, c, n = ids.shape
            hidden = self.encode(ids.view(b * c, n), mask.view(b * c, n))
            return self.head(pool(hidden, mask.view(b * c, n), self.pooling)).view(b, c)
        hidden = self.encode(ids, mask)
        if self.task_type in (TaskType.CLASSIFICATION, TaskType.PAIR_CLASSIFICATION):
            return self.head(pool(hidden, mask, self.pooling))
        return self.head(hidden)

    def loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ce = nn.functional.cross_entropy
        logits = logits.float()
        if self.task_type == TaskType.SPAN_QA:
            start, end = logits[..., 0], logits[..., 1]
            return (ce(start, batch["start_positions"]) + ce(end, batch["end_positions"])) / 2
        if self.task_type == TaskType.TAGGING:
            return ce(logits.reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1),
                      ignore_index=-100)
        return ce(logits, batch["labels"])

    def save(self, out_dir: Path, tokenizer: PreTrainedTokenizerBase, extra: dict | None = None):
        """Write encoder (safetensors) + tokenizer + head to `out_dir`."""
        save_encoder(self.encoder, tokenizer, out_dir)
        save_file({k: v.contiguous() for k, v in self.head.state_dict().items()},
                  str(Path(out_dir) / "head.safetensors"))
        meta = {"task": self.task_name, "type": str(self.task_type), "labels": self.labels,
                "head": type(self.head).__name__, "pooling": self.pooling}
        if self.task_type == TaskType.TAGGING:
            meta["label_piece"] = self.label_piece
        meta.update(extra or {})
        (Path(out_dir) / "head.json").write_text(json.dumps(meta, indent=1))


class MultiTaskModel(nn.Module):
    """One shared encoder and several heads; `task_to_head` sends each member task to its head.

    `view(task)` is a TaskModel sharing the encoder and that task's head (no copies), so
    training and scoring code handles one member like a single-task model. With `shared_head`
    every member uses one head named `shared_head` (same task type and label set, e.g. ANLI+).
    Heads are created in member order right after the caller seeds torch: deterministic.
    """

    def __init__(self, encoder: PreTrainedModel, name: str, tasks: list[Task], pooling: str,
                 dropout: float, shared_head: bool = False, label_piece: str = "first"):
        super().__init__()
        self.encoder = encoder
        self.task_name = name
        self.pooling = pooling
        self.label_piece = label_piece
        self.heads = nn.ModuleDict()
        self.task_to_head: dict[str, str] = {}
        self._tasks = {t.name: t for t in tasks}
        hidden = encoder.config.hidden_size
        for task in tasks:
            head = name if shared_head else task.name
            if head not in self.heads:
                self.heads[head] = make_head(task, hidden, dropout)
            elif (task.type, task.labels) != (tasks[0].type, tasks[0].labels):
                raise ValueError(f"mixture {name}: a shared head needs one task type and label "
                                 f"set; {task.name} differs from {tasks[0].name}")
            self.task_to_head[task.name] = head
        # plain dict (not registered): the views' modules are already submodules above
        self._views = {t.name: TaskModel(encoder, t, pooling, dropout, self.heads[h],
                                         label_piece)
                       for t, h in zip(tasks, self.task_to_head.values(), strict=True)}

    @property
    def task_names(self) -> list[str]:
        return list(self._views)

    def view(self, task: str) -> TaskModel:
        return self._views[task]

    def save(self, out_dir: Path, tokenizer: PreTrainedTokenizerBase, extra: dict | None = None):
        """Encoder (as every checkpoint) + `heads/<head>.safetensors` + `head.json`."""
        save_encoder(self.encoder, tokenizer, out_dir)
        (Path(out_dir) / "heads").mkdir(parents=True, exist_ok=True)
        for name, head in self.heads.items():
            save_file({k: v.contiguous() for k, v in head.state_dict().items()},
                      str(Path(out_dir) / "heads" / f"{name}.safetensors"))
        first = {h: next(t for t, hh in self.task_to_head.items() if hh == h) for h in self.heads}
        meta = {"task": self.task_name, "type": "mixture", "pooling": self.pooling,
                "tasks": self.task_to_head,
                "heads": {h: {"type": str(self._tasks[t].type),
                              "labels": list(self._tasks[t].labels),
                              "head": type(self.heads[h]).__name__} for h, t in first.items()},
                **({"label_piece": self.label_piece}
                   if any(t.type == TaskType.TAGGING for t in self._tasks.values()) else {}),
                **(extra or {})}
        (Path(out_dir) / "head.json").write_text(json.dumps(meta, indent=1))


def save_encoder(encoder: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: Path):
    """The encoder and its tokenizer; the tokenizer without the truncation and padding of its
    last call (state of a fast tokenizer's backend, absent when the features came from the
    feature cache: saved, it would make the same checkpoint's files differ between runs)."""
    enc_dir = Path(out_dir) / "encoder"
    encoder.save_pretrained(str(enc_dir), safe_serialization=True)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    trunc, pad = (backend.truncation, backend.padding) if backend is not None else (None, None)
    if backend is not None:
        backend.no_truncation()
        backend.no_padding()
    try:
        save_tokenizer(tokenizer, enc_dir)
    finally:
        if trunc:
            backend.enable_truncation(**trunc)
        if pad:
            backend.enable_padding(**pad)


class CheckpointError(ValueError):
    """A checkpoint file is corrupt or does not fit its config; the message names the file."""


def _safetensors_shapes(files: list[Path]) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from the headers (no weights read); a bad file names itself."""
    from safetensors import safe_open

    shapes: dict[str, tuple[int, ...]] = {}
    for f in files:
        try:
            with safe_open(str(f), framework="pt") as sf:
                for k in sf.keys():  # noqa: SIM118 - safe_open has no __iter__
                    shapes[k] = tuple(sf.get_slice(k).get_shape())
            size = f.stat().st_size
            if size < 8:
                raise ValueError(f"{size} bytes")
        except Exception as e:  # noqa: BLE001 - safetensors raises its own error types
            raise CheckpointError(f"{f}: not a readable safetensors file (truncated or corrupt?): "
                                  f"{e}") from None
    return shapes


def _check_encoder_weights(enc_dir: Path, weights: list[Path], trust_remote_code: bool) -> None:
    """The weight files must hold every tensor of the architecture config.json describes, with
    the same shapes (transformers would silently initialise missing layers at random)."""
    from transformers import AutoConfig

    shapes = _safetensors_shapes(weights)
    try:
        config = AutoConfig.from_pretrained(str(enc_dir), trust_remote_code=trust_remote_code)
    except Exception as e:  # noqa: BLE001 - OSError / ValueError with a long explanation
        raise CheckpointError(f"{enc_dir / 'config.json'}: unusable config: "
                              f"{str(e).splitlines()[0]}") from None
    with torch.device("meta"):
        try:
            model = AutoModel.from_config(config, add_pooling_layer=False,
                                          trust_remote_code=trust_remote_code)
        except TypeError:
            model = AutoModel.from_config(config, trust_remote_code=trust_remote_code)
    prefix = f"{model.base_model_prefix}."
    found = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in shapes.items()}
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    names = ", ".join(f.name for f in weights)
    what = f"{config.model_type} ({', '.join(config.architectures or [type(model).__name__])})"
    missing = [k for k in expected if k not in found]
    if missing:
        raise CheckpointError(
            f"{enc_dir}: {names} lacks {len(missing)} of the {len(expected)} tensors that "
            f"config.json's architecture {what} needs (e.g. {', '.join(missing[:3])}): wrong "
            "architecture or layer count, or weights of another model")
    wrong = [f"{k} is {list(found[k])}, config.json needs {list(v)}"
             for k, v in expected.items() if found[k] != v]
    if wrong:
        raise CheckpointError(
            f"{enc_dir}: {names} does not fit config.json (hidden_size="
            f"{getattr(config, 'hidden_size', '?')}): {len(wrong)} tensors differ in shape, e.g. "
            + "; ".join(wrong[:3]))


def load_encoder(ckpt_dir: Path, trust_remote_code: bool = False):
    """(encoder, tokenizer) from a checkpoint folder (its `encoder/` or the folder itself).

    Weights load from safetensors only (pickled `*.bin` files are never read); the files are
    checked against config.json first, so a truncated file, another architecture or a hidden
    size mismatch is a `CheckpointError` naming the file instead of random weights.
    """
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        raise FileNotFoundError(f"checkpoint folder {ckpt_dir} does not exist (run its stage "
                                "first: `dvc repro`)")
    enc_dir = ckpt_dir / "encoder" if (ckpt_dir / "encoder").is_dir() else ckpt_dir
    if not (enc_dir / "config.json").is_file():
        raise FileNotFoundError(f"no encoder checkpoint in {ckpt_dir} (missing config.json)")
    weights = sorted(enc_dir.glob("*.safetensors"))
    if not weights:
        pickled = sorted(p.name for p in enc_dir.glob("*.bin"))
        raise FileNotFoundError(
            f"{enc_dir}: no safetensors weights (model.safetensors)"
            + (f"; {', '.join(pickled)} not loaded: pickled weights are refused" if pickled
               else ""))
    _check_encoder_weights(enc_dir, weights, trust_remote_code)
    kwargs = {"use_safetensors": True, "trust_remote_code": trust_remote_code}
    try:  # encoders with an unused pooler (BERT, XLM-R): do not build it
        encoder = AutoModel.from_pretrained(str(enc_dir), add_pooling_layer=False, **kwargs)
    except TypeError:
        encoder = AutoModel.from_pretrained(str(enc_dir), **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(str(enc_dir), trust_remote_code=trust_remote_code)
    return encoder, tokenizer


def _mixture_head(meta_file: Path, task: Task) -> str | None:
    """The head name of `task` when `meta_file` is a mixture's head.json listing it."""
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # reported by the caller
    if isinstance(meta, dict) and meta.get("type") == "mixture":
        return meta.get("tasks", {}).get(task.name)
    return None


def checkpoint_meta(ckpt_dir: Path) -> dict:
    """A task checkpoint's head.json: its task and head, and the settings it runs with
    (`label_piece` of tagging, `max_length` and `doc_stride`, where the checkpoint has them)."""
    path = Path(ckpt_dir) / "head.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: {ckpt_dir} is not a finished task "
                                "checkpoint (run its training stage first: `dvc repro`)") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None


def load_task_model(ckpt_dir: Path, task: Task, trust_remote_code: bool = False):
    """(TaskModel, tokenizer) with the trained head of `ckpt_dir` (or of a mixture member)."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        raise FileNotFoundError(f"checkpoint folder {ckpt_dir} does not exist (run its stage "
                                "first: `dvc repro`)")
    meta_file, head_file = ckpt_dir / "head.json", ckpt_dir / "head.safetensors"
    mixture = _mixture_head(meta_file, task)
    if mixture is not None:  # a member's head in a multi-task checkpoint
        head_file = ckpt_dir / "heads" / f"{mixture}.safetensors"
    for f in (meta_file, head_file):
        if not f.is_file():
            raise FileNotFoundError(f"{f} is missing: {ckpt_dir} is not a finished task "
                                    "checkpoint (run its training stage first: `dvc repro`)")
    meta = checkpoint_meta(ckpt_dir)
    try:
        meta["task"], meta["pooling"]  # noqa: B018 - required keys
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"{meta_file}: missing key {e}") from None
    if meta["task"] != task.name and mixture is None:
        raise ValueError(f"{ckpt_dir}: head is for task {meta['task']!r}, not {task.name!r}")
    label_piece = meta.get("label_piece", "first")  # checkpoints before the option: XTREME's
    if label_piece not in LABEL_PIECES:
        raise CheckpointError(f"{meta_file}: label_piece {label_piece!r} is not one of "
                              f"{LABEL_PIECES}")
    encoder, tokenizer = load_encoder(ckpt_dir, trust_remote_code)
    model = TaskModel(encoder, task, meta["pooling"], dropout=0.0, label_piece=label_piece)
    # what evaluating it needs of its training hparams (checkpoints before them: none)
    model.run_settings = {k: meta[k] for k in ("max_length", "doc_stride") if k in meta}
    _safetensors_shapes([head_file])
    state = load_file(str(head_file))
    try:
        model.head.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"{head_file}: does not fit the encoder and task "
                              f"{task.name!r}: {' '.join(str(e).split())}") from None
    return model, tokenizer
