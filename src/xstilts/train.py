"""The training loop: English train set, model selection on the English dev set.

Dynamic padding with length-grouped batches, AdamW (foreach), linear warmup/decay, optional
bf16 autocast, several dev evaluations per epoch; the best dev state is kept and restored.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import get_linear_schedule_with_warmup

from xstilts.evaluation import autocast, score_split
from xstilts.features import featurize, iter_batches, length_grouped_batches
from xstilts.modeling import TaskModel
from xstilts.params import RuntimeParams, TrainHParams
from xstilts.progress import progress

log = logging.getLogger(__name__)


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup_runtime(rt: RuntimeParams) -> tuple[torch.device, bool]:
    """(device, use_bf16) from runtime params; threads set from the CPU count."""
    if rt.device == "cuda" or (rt.device == "auto" and torch.cuda.is_available()):
        device = torch.device("cuda")
        bf16 = rt.bf16 and torch.cuda.is_bf16_supported()
    else:
        device = torch.device("cpu")
        torch.set_num_threads(rt.threads or os.cpu_count() or 1)
        bf16 = rt.bf16
    return device, bf16


@dataclass
class TrainResult:
    best_score: float
    best_step: int
    steps: int
    history: list[dict] = field(default_factory=list)  # [{"step", "epoch", "loss", dev...}]


def train_task(model: TaskModel, tokenizer, train_ds, dev_ds, hp: TrainHParams, seed: int,
               device: torch.device, bf16: bool, eval_batch_size: int = 64,
               on_eval: Callable[[dict], None] | None = None, desc: str = "train") -> TrainResult:
    """Fine-tune `model` on English `train_ds`; select the best state on English `dev_ds`."""
    set_seed(seed)
    task = _task_of(model)
    rows = featurize(task, train_ds, tokenizer, hp.max_length, hp.stride, train=True)
    batches_per_epoch = math.ceil(len(rows) / hp.batch_size)
    total = max(1, round(batches_per_epoch * hp.epochs))
    eval_every = max(1, batches_per_epoch // hp.evals_per_epoch)
    model.to(device)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": hp.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=hp.lr, foreach=True,
    )
    sched = get_linear_schedule_with_warmup(opt, round(hp.warmup_ratio * total), total)
    metric = task.metric
    best = TrainResult(best_score=-math.inf, best_step=0, steps=total)
    best_state: dict[str, torch.Tensor] | None = None
    step, epoch, running = 0, 0, []
    bar = progress(total=total, desc=desc, unit="step")
    while step < total:
        order = length_grouped_batches(rows, hp.batch_size, seed=seed * 1000 + epoch)
        for _, batch in iter_batches(rows, order, tokenizer.pad_token_id):
            model.train()
            batch = {k: v.to(device) for k, v in batch.items()}
            with autocast(device, bf16):
                logits = model(batch)
            loss = model.loss(logits, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), hp.grad_clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            running.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(running[-20:]):.4f}", refresh=False)
            if step % eval_every == 0 or step == total:
                scores = score_split(model, task, dev_ds, tokenizer, "en", hp.max_length,
                                     hp.stride, eval_batch_size, device, bf16, "dev en")
                point = {"step": step, "epoch": step / batches_per_epoch,
                         "loss": float(np.mean(running)), **scores}
                running = []
                best.history.append(point)
                log.info("%s step %d: dev %s", desc, step, scores)
                if on_eval:
                    on_eval(point)
                if scores[metric] > best.best_score:
                    best.best_score, best.best_step = scores[metric], step
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if step >= total:
                break
        epoch += 1
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return best


def _task_of(model: TaskModel):
    from xstilts.tasks import get_task

    return get_task(model.task_name)
