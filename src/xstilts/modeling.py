"""One shared encoder plus a task head chosen by task type; safetensors checkpoints.

Checkpoint folder layout (every phase):
    encoder/            transformers `save_pretrained` folder (safetensors) + tokenizer
    head.safetensors    the task head's weights (absent for the `none` baseline)
    head.json           task name, type, labels, head class and pooling
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from xstilts.tasks import Task, TaskType

HEADS: dict[TaskType, type[nn.Module]] = {}


def register_head(*types: TaskType):
    """Class decorator: the head used for these task types."""

    def wrap(cls: type[nn.Module]) -> type[nn.Module]:
        for t in types:
            HEADS[t] = cls
        return cls

    return wrap


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """[B, L, H] hidden states -> [B, H] sentence vectors (cls: first token; mean: masked mean)."""
    if how == "cls":
        return hidden[:, 0]
    if how == "mean":
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
    raise ValueError(f"unknown pooling {how!r} (expected cls or mean)")


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


class TaskModel(nn.Module):
    """Encoder + head for one task; `forward(batch)` returns task logits.

    Shapes: classification [B, K]; multiple choice [B, C] (input [B, C, L]); span QA
    [B, L, 2]; tagging [B, L, K].
    """

    def __init__(self, encoder: PreTrainedModel, task: Task, pooling: str, dropout: float):
        super().__init__()
        self.encoder = encoder
        self.task_name = task.name
        self.task_type = task.type
        self.labels = list(task.labels)
        self.pooling = pooling
        hidden = encoder.config.hidden_size
        if task.type not in HEADS:
            raise ValueError(f"no head for task type {task.type} (task {task.name})")
        self.head = HEADS[task.type](hidden, max(task.num_labels, 1), dropout)

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
                "head": type(self.head).__name__, "pooling": self.pooling, **(extra or {})}
        (Path(out_dir) / "head.json").write_text(json.dumps(meta, indent=1))


def save_encoder(encoder: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: Path):
    enc_dir = Path(out_dir) / "encoder"
    encoder.save_pretrained(str(enc_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(enc_dir))


def load_encoder(ckpt_dir: Path, trust_remote_code: bool = False):
    """(encoder, tokenizer) from a checkpoint folder (its `encoder/` or the folder itself)."""
    ckpt_dir = Path(ckpt_dir)
    enc_dir = ckpt_dir / "encoder" if (ckpt_dir / "encoder").is_dir() else ckpt_dir
    if not (enc_dir / "config.json").is_file():
        raise FileNotFoundError(f"no encoder checkpoint in {ckpt_dir} (missing config.json)")
    weights = list(enc_dir.glob("*.safetensors"))
    if not weights:
        raise FileNotFoundError(f"{enc_dir}: no safetensors weights (pickled weights are refused)")
    kwargs = {"use_safetensors": True, "trust_remote_code": trust_remote_code}
    try:  # encoders with an unused pooler (BERT, XLM-R): do not build it
        encoder = AutoModel.from_pretrained(str(enc_dir), add_pooling_layer=False, **kwargs)
    except TypeError:
        encoder = AutoModel.from_pretrained(str(enc_dir), **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(str(enc_dir), trust_remote_code=trust_remote_code)
    return encoder, tokenizer


def load_task_model(ckpt_dir: Path, task: Task, trust_remote_code: bool = False):
    """(TaskModel, tokenizer) with the trained head of `ckpt_dir`."""
    meta = json.loads((Path(ckpt_dir) / "head.json").read_text())
    if meta["task"] != task.name:
        raise ValueError(f"{ckpt_dir}: head is for task {meta['task']!r}, not {task.name!r}")
    encoder, tokenizer = load_encoder(ckpt_dir, trust_remote_code)
    model = TaskModel(encoder, task, meta["pooling"], dropout=0.0)
    state = load_file(str(Path(ckpt_dir) / "head.safetensors"))
    model.head.load_state_dict(state)
    return model, tokenizer
