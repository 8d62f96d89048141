"""The training loop: English train set, model selection on the English dev set.

Dynamic padding with length-grouped batches, AdamW (fused kernel), linear warmup/decay, optional
bf16 autocast, several dev evaluations per epoch; the best dev state is kept and restored.
One loop serves a single task and a mixture of tasks on one encoder (`train_mixture`: each
batch from one member, members proportional to min(size, cap), selection on the mean of the
members' dev main metrics). With a `Checkpointer` the full state is saved every N steps and a
killed run continues from it with exactly the result of an uninterrupted run.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from transformers import get_linear_schedule_with_warmup

from xstilts.core import distributed, feature_cache
from xstilts.core.dropout import use_fast_dropout
from xstilts.core.evaluation import autocast, score_split
from xstilts.core.features import collate, featurize, length_grouped_batches
from xstilts.core.modeling import MultiTaskModel, TaskModel
from xstilts.core.params import RuntimeParams, TrainHParams
from xstilts.core.progress import progress
from xstilts.core.resume import Checkpointer
from xstilts.tasks import Task

log = logging.getLogger(__name__)


_FUSED = True  # runtime.fused_optimizer (set by setup_runtime)
_FAST_DROPOUT = True  # runtime.fast_dropout (set by setup_runtime)


def optimizer_kernel(device: torch.device) -> dict[str, bool]:
    """AdamW's implementation: the fused kernel (one pass over each parameter; on CPU it
    halves the optimizer step of a large embedding matrix) when asked for, else foreach."""
    if _FUSED and device.type in ("cpu", "cuda"):
        return {"fused": True}
    return {"foreach": True}


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes bf16 matmuls natively (x86 AVX512-BF16 or AMX-BF16; Arm's
    BF16 extension), read from the flags in ``/proc/cpuinfo`` (False where it is unreadable).
    Elsewhere bf16 autocast is emulated: on an AVX2-only CPU a training step of e5-small ran
    9x slower than fp32 (2.3 s vs 21 s, batch 16 x 32 tokens, 1 thread; AMD EPYC, torch 2.13,
    2026-12-03)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return False
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def resolve_bf16(setting: bool | str, device: torch.device) -> bool:
    """runtime.bf16 for `device`: "auto" = native bf16 there (CUDA: ``is_bf16_supported``;
    CPU: :func:`cpu_has_native_bf16`); true = bf16 wherever the device can run it at all."""
    if device.type == "cuda":
        return bool(setting) and torch.cuda.is_bf16_supported()
    if setting == "auto":
        return cpu_has_native_bf16()
    return bool(setting)


def setup_runtime(rt: RuntimeParams) -> tuple[torch.device, bool]:
    """(device, use_bf16) from runtime params; threads set from the CPU count; the optimizer
    kernel, the dropout masks and the tokenized-feature cache as the params say."""
    global _FUSED, _FAST_DROPOUT
    _FUSED = rt.fused_optimizer
    _FAST_DROPOUT = rt.fast_dropout
    feature_cache.configure(rt.feature_cache)
    if distributed.active():  # a DDP rank: its own device; threads set by distributed.init
        device = distributed.device()
        return device, resolve_bf16(rt.bf16, device)
    if rt.device == "cuda" or (rt.device == "auto" and torch.cuda.is_available()):
        device = torch.device("cuda")
    else:
        device = torch.device("cpu")
        torch.set_num_threads(rt.threads or os.cpu_count() or 1)
    return device, resolve_bf16(rt.bf16, device)


@dataclass
class TrainResult:
    best_score: float
    best_step: int
    steps: int
    history: list[dict] = field(default_factory=list)  # [{"step", "epoch", "loss", dev...}]
    metric: str = ""  # the selection key of the history points ("avg" for a mixture)
    resumed_from: int | None = None  # the step a killed run was resumed at


@dataclass
class Member:
    """One task of a training run: a model sharing the encoder, its train rows and dev set."""

    task: Task
    model: TaskModel
    rows: list[dict]
    dev_ds: Dataset


class BatchSchedule:
    """The deterministic sequence of (member, row indices) batches of a run, resumable.

    A mixture epoch has ceil(min(n_i, cap) / batch_size) batches of member i (n_i: its rows),
    in an order shuffled from (seed, epoch): member i is drawn with probability proportional
    to min(n_i, cap). Each member walks its own length-grouped batch order (seed*1000 + its
    own epoch, as single-task training orders it) and starts a new one when it runs out, so a
    capped member sees new rows in the next mixture epoch. With one member this is exactly
    the single-task order. `state()` is the position (JSON), `load()` returns to it.
    """

    def __init__(self, rows: list[list[dict]], batch_size: int, seed: int,
                 cap: int | None = None):
        self.rows, self.batch_size, self.seed = rows, batch_size, seed
        self.counts = [math.ceil(min(len(r), cap or len(r)) / batch_size) for r in rows]
        self.per_epoch = sum(self.counts)
        self.epoch, self.index = 0, 0
        self.streams = [[0, 0] for _ in rows]  # per member: its own epoch, batches taken
        self._plan: tuple[int, list[int]] | None = None
        self._orders: dict[int, tuple[int, list[list[int]]]] = {}

    def plan(self, epoch: int) -> list[int]:
        """The member of each batch of mixture epoch `epoch`."""
        if self._plan is None or self._plan[0] != epoch:
            seq = [i for i, k in enumerate(self.counts) for _ in range(k)]
            if len(self.counts) > 1:
                random.Random(f"mixture:{self.seed}:{epoch}").shuffle(seq)
            self._plan = (epoch, seq)
        return self._plan[1]

    def _order(self, member: int, epoch: int) -> list[list[int]]:
        cached = self._orders.get(member)
        if cached is None or cached[0] != epoch:
            order = length_grouped_batches(self.rows[member], self.batch_size,
                                           seed=self.seed * 1000 + epoch)
            self._orders[member] = cached = (epoch, order)
        return cached[1]

    def next(self) -> tuple[int, list[int]]:
        if self.index >= self.per_epoch:
            self.epoch, self.index = self.epoch + 1, 0
        member = self.plan(self.epoch)[self.index]
        own_epoch, taken = self.streams[member]
        if taken >= len(self._order(member, own_epoch)):
            own_epoch, taken = own_epoch + 1, 0
        batch = self._order(member, own_epoch)[taken]
        self.streams[member] = [own_epoch, taken + 1]
        self.index += 1
        return member, batch

    def state(self) -> dict:
        return {"epoch": self.epoch, "index": self.index, "streams": self.streams}

    def load(self, state: dict) -> None:
        self.epoch, self.index = state["epoch"], state["index"]
        self.streams = [list(s) for s in state["streams"]]


def train_task(model: TaskModel, tokenizer, train_ds, dev_ds, hp: TrainHParams, seed: int,
               device: torch.device, bf16: bool, eval_batch_size: int = 64,
               on_eval: Callable[[dict], None] | None = None, desc: str = "train",
               checkpoint: Checkpointer | None = None) -> TrainResult:
    """Fine-tune `model` on English `train_ds`; select the best state on English `dev_ds`."""
    set_seed(seed)
    task = _task_of(model)
    _same_label_piece(model, hp)
    rows = featurize(task, train_ds, tokenizer, hp.max_length, hp.stride, train=True,
                     label_piece=model.label_piece)
    return _train(model, [Member(task, model, rows, dev_ds)], tokenizer, hp, seed, device,
                  bf16, None, eval_batch_size, on_eval, desc, checkpoint)


def train_mixture(model: MultiTaskModel, tokenizer, data: dict[str, tuple[Dataset, Dataset]],
                  hp: TrainHParams, seed: int, device: torch.device, bf16: bool,
                  cap: int | None = None, eval_batch_size: int = 64,
                  on_eval: Callable[[dict], None] | None = None, desc: str = "train",
                  checkpoint: Checkpointer | None = None) -> TrainResult:
    """Multi-task training of `model`'s members on their English train sets ({task: (train,
    dev)}); the best state is the one with the best mean of the members' dev main metrics."""
    from xstilts.tasks import get_task

    set_seed(seed)
    _same_label_piece(model, hp)
    members = []
    for name in model.task_names:
        task = get_task(name)
        train_ds, dev_ds = data[name]
        rows = featurize(task, train_ds, tokenizer, hp.max_length, hp.stride, train=True,
                         label_piece=model.label_piece)
        members.append(Member(task, model.view(name), rows, dev_ds))
    return _train(model, members, tokenizer, hp, seed, device, bf16, cap, eval_batch_size,
                  on_eval, desc, checkpoint)


def _same_label_piece(model: TaskModel | MultiTaskModel, hp: TrainHParams) -> None:
    """The model (whose head.json records it for evaluation) and the hparams must agree on the
    tagging alignment, or training and evaluation would label different sub-words."""
    if model.label_piece != hp.label_piece:
        raise ValueError(f"{model.task_name}: the model labels the {model.label_piece!r} "
                         f"piece but hparams.label_piece is {hp.label_piece!r}; build the "
                         "model with label_piece=hp.label_piece")


def _train(model: TaskModel | MultiTaskModel, members: list[Member], tokenizer,
           hp: TrainHParams, seed: int, device: torch.device, bf16: bool, cap: int | None,
           eval_batch_size: int, on_eval: Callable[[dict], None] | None, desc: str,
           checkpoint: Checkpointer | None) -> TrainResult:
    """The loop of `train_task` / `train_mixture`. Under DDP (`xstilts.core.distributed.active()`)
    every rank walks the same batch schedule and trains on its share of each batch; rank 0
    scores the dev set (the scores are broadcast, so every rank selects alike) and alone
    keeps the best state, saves checkpoints and calls `on_eval`."""
    mixture = isinstance(model, MultiTaskModel)
    schedule = BatchSchedule([m.rows for m in members], hp.batch_size, seed, cap)
    batches_per_epoch = schedule.per_epoch
    total = max(1, round(batches_per_epoch * hp.epochs))
    eval_every = max(1, batches_per_epoch // hp.evals_per_epoch)
    model.to(device)
    if _FAST_DROPOUT:
        use_fast_dropout(model)
    ddp = distributed.wrap(model, mixture) if distributed.active() else None
    main = distributed.is_main()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": hp.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=hp.lr, **optimizer_kernel(device),
    )
    sched = get_linear_schedule_with_warmup(opt, round(hp.warmup_ratio * total), total)
    metric = "avg" if mixture else members[0].task.metric
    best = TrainResult(best_score=-math.inf, best_step=0, steps=total, metric=metric)
    best_state: dict[str, torch.Tensor] | None = None
    step = 0
    running: list[float] = []
    member_loss: dict[str, list[float]] = {m.task.name: [] for m in members}
    if checkpoint is not None:
        found = None
        if main:
            checkpoint.drop_stale()
            found = checkpoint.load()
        found = distributed.broadcast(found)  # rank 0's state on every rank (one process: as is)
        if found is not None:
            meta, tensors, best_state = found
            _restore(meta, tensors, model, opt, sched, schedule)
            step, running, member_loss = meta["step"], meta["running"], meta["member_loss"]
            best.best_score, best.best_step = meta["best_score"], meta["best_step"]
            best.history, best.resumed_from = meta["history"], step
            for point in best.history:  # the new tracking run gets the whole dev curve
                if on_eval and main:
                    on_eval(point)
    bar = progress(total=total, initial=step, desc=desc, unit="step",
                   **({} if main else {"disable": True}))
    while step < total:
        i, idx = schedule.next()
        member = members[i]
        weight = 1.0
        if ddp is not None:  # this rank's rows; dropout seeded by (seed, step, rank)
            idx, weight = distributed.shard(idx)
            torch.manual_seed(distributed.step_seed(seed, step))
            ddp.train()
        else:
            model.train()
        batch = collate([member.rows[j] for j in idx], tokenizer.pad_token_id)
        batch = {k: v.to(device) for k, v in batch.items()}
        with autocast(device, bf16):
            if ddp is None:
                logits = member.model(batch)
            else:
                logits = ddp(batch, member.task.name if mixture else None)
        loss = member.model.loss(logits, batch)
        if ddp is None:
            loss.backward()
        else:  # DDP averages the ranks' gradients: weighted, that of the global batch mean
            (loss * weight).backward()
            loss = distributed.all_sum(loss.detach() * (weight / distributed.world()))
        torch.nn.utils.clip_grad_norm_(model.parameters(), hp.grad_clip)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        running.append(loss.item())
        member_loss[member.task.name].append(running[-1])
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(running[-20:]):.4f}", refresh=False)
        if step % eval_every == 0 or step == total:
            scores = None
            if main:
                scores = _dev_scores(members, mixture, tokenizer, hp, eval_batch_size, device,
                                     bf16)
            scores = distributed.broadcast(scores)  # one process: as is
            point = {"step": step, "epoch": step / batches_per_epoch,
                     "loss": float(np.mean(running)), **scores}
            if mixture:
                point |= {f"loss/{n}": float(np.mean(v)) for n, v in member_loss.items() if v}
            running = []
            member_loss = {n: [] for n in member_loss}
            best.history.append(point)
            log.info("%s step %d: dev %s", desc, step, scores)
            if on_eval and main:
                on_eval(point)
            if scores[metric] > best.best_score:
                best.best_score, best.best_step = scores[metric], step
                if main:  # the other ranks' model is never saved
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if checkpoint is not None and checkpoint.due(step) and step < total and main:
            tensors, meta = _capture(model, opt, sched, schedule)
            meta |= {"step": step, "running": running, "member_loss": member_loss,
                     "best_score": best.best_score, "best_step": best.best_step,
                     "history": best.history}
            checkpoint.save(step, tensors, best_state, best.best_step, meta)
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return best


def _dev_scores(members: list[Member], mixture: bool, tokenizer, hp: TrainHParams,
                batch_size: int, device: torch.device, bf16: bool) -> dict[str, float]:
    """English dev metrics; for a mixture `<task>/<metric>` per member and their main `avg`."""
    if not mixture:
        m = members[0]
        return score_split(m.model, m.task, m.dev_ds, tokenizer, "en", hp.max_length,
                           hp.stride, batch_size, device, bf16, "dev en")
    out: dict[str, float] = {}
    for m in members:
        scores = score_split(m.model, m.task, m.dev_ds, tokenizer, "en", hp.max_length,
                             hp.stride, batch_size, device, bf16, f"dev en {m.task.name}")
        out |= {f"{m.task.name}/{k}": v for k, v in scores.items()}
    out["avg"] = float(np.mean([out[f"{m.task.name}/{m.task.metric}"] for m in members]))
    return out


def _capture(model, opt, sched, schedule: BatchSchedule) -> tuple[dict, dict]:
    """(tensors, JSON-able meta) of everything the rest of the run depends on."""
    tensors = {f"model.{k}": v.detach().contiguous()
               for k, v in model.state_dict().items()}
    opt_state = opt.state_dict()
    plain: dict[str, dict] = {}
    for pid, st in opt_state["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{pid}.{k}"] = v.detach().contiguous()
            else:
                plain.setdefault(str(pid), {})[k] = v
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    py = random.getstate()
    np_state = np.random.get_state()
    sched_state = {k: v for k, v in sched.state_dict().items() if k != "lr_lambdas"}
    meta = {"optim_groups": opt_state["param_groups"], "optim_plain": plain,
            "optim_ids": sorted(opt_state["state"]),
            "scheduler": sched_state, "schedule": schedule.state(),
            "rng_python": [py[0], list(py[1]), py[2]],
            "rng_numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]]}
    return tensors, meta


def _restore(meta: dict, tensors: dict, model, opt, sched, schedule: BatchSchedule) -> None:
    """Inverse of `_capture` (model, optimiser, scheduler, data position, every RNG)."""
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items()
                           if k.startswith("model.")})
    state: dict[int, dict] = {pid: dict(meta["optim_plain"].get(str(pid), {}))
                              for pid in meta["optim_ids"]}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, pid, name = k.split(".", 2)
            state[int(pid)][name] = v
    groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g
              for g in meta["optim_groups"]]
    opt.load_state_dict({"state": state, "param_groups": groups})
    sched.load_state_dict({**meta["scheduler"], "lr_lambdas": [None] * len(sched.lr_lambdas)})
    schedule.load(meta["schedule"])
    v, internal, gauss = meta["rng_python"]
    random.setstate((v, tuple(internal), gauss))
    kind, keys, *rest = meta["rng_numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(tensors["rng.torch"])
    if torch.cuda.is_available():
        names = sorted((t for t in tensors if t.startswith("rng.cuda.")),
                       key=lambda t: int(t.rsplit(".", 1)[1]))
        states = [tensors[k] for k in names]
        if states:
            torch.cuda.set_rng_state_all(states)


def _task_of(model: TaskModel):
    from xstilts.tasks import get_task

    return get_task(model.task_name)
