"""Multi-process (DDP) training through `accelerate`: launch, process group, rank helpers.

`runtime.num_processes > 1` (or `runtime.accelerate_config`) makes a training stage start
itself again under a launcher: `python -m torch.distributed.run --standalone --nproc_per_node
N` on one machine, `python -m accelerate.commands.launch --config_file F` with an accelerate
config (several machines: `num_machines`, `machine_rank`, `main_process_ip`, ...). Inside the
launched processes `init` creates the `accelerate.Accelerator` (gloo on CPU, nccl on GPU).
`xstilts.core.train._train` then gives rank r the rows `idx[r::world]` of every global batch of the
(identical) batch schedule, DDP averages the gradients, rank 0 scores the dev set and sends the
scores to every rank, and only rank 0 writes checkpoints, outputs and MLflow calls. Without a
launch nothing here is constructed and training is exactly the single-process loop.
"""

from __future__ import annotations

import datetime
import os
from typing import Any

import torch
from torch import nn

_TIMEOUT = datetime.timedelta(minutes=60)  # rank 0 scores the dev set while the others wait

_accelerator = None  # accelerate.Accelerator of this process once `init` ran


def use_cuda(device: str) -> bool:
    """The device `runtime.device` resolves to on this machine is CUDA."""
    return device == "cuda" or (device == "auto" and torch.cuda.is_available())


def init(device: str, threads: int | None = None):
    """The process group and Accelerator of a launched process (`device`: runtime.device)."""
    global _accelerator
    if _accelerator is not None:
        return _accelerator
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, InitProcessGroupKwargs

    cuda = use_cuda(device)
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("runtime.device is 'cuda' but no CUDA device is available")
    if not cuda:  # CPU ranks share the machine's cores
        local = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
        torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // local))
    _accelerator = Accelerator(
        cpu=not cuda, mixed_precision="no",  # bf16 autocast is xstilts' own (runtime.bf16)
        kwargs_handlers=[InitProcessGroupKwargs(timeout=_TIMEOUT),
                         DistributedDataParallelKwargs(find_unused_parameters=False)])
    return _accelerator


def active() -> bool:
    """True when this process is one of several DDP ranks (after `init`)."""
    return _accelerator is not None and _accelerator.num_processes > 1


def rank() -> int:
    return _accelerator.process_index if active() else 0


def world() -> int:
    return _accelerator.num_processes if active() else 1


def is_main() -> bool:
    """True on the process that writes outputs, checkpoints and MLflow calls (rank 0)."""
    return rank() == 0


def device() -> torch.device:
    """This rank's device (cuda:<local rank> on GPU)."""
    return _accelerator.device


def broadcast(obj: Any) -> Any:
    """`obj` of rank 0 on every rank (any picklable object)."""
    if not active():
        return obj
    box = [obj if is_main() else None]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def all_sum(value: torch.Tensor) -> torch.Tensor:
    """Sum of `value` over ranks (a new tensor)."""
    out = value.detach().clone()
    if active():
        torch.distributed.all_reduce(out, op=torch.distributed.ReduceOp.SUM)
    return out


class _Dispatch(nn.Module):
    """Forward of a task model or of one member of a multi-task model, for DDP to wrap."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor], task: str | None = None) -> torch.Tensor:
        return (self.model.view(task) if task is not None else self.model)(batch)


def wrap(model: nn.Module, mixture: bool) -> nn.Module:
    """`model` in DDP; call it as `ddp(batch, task)` (`task`: member name of a mixture).

    A mixture step uses one member's head, so unused parameters are searched for (their
    gradients stay None on every rank, as in one process)."""
    from accelerate.utils import DistributedDataParallelKwargs

    _accelerator.ddp_handler = DistributedDataParallelKwargs(find_unused_parameters=mixture)
    return _accelerator.prepare_model(_Dispatch(model))


def shard(idx: list[int]) -> tuple[list[int], float]:
    """This rank's rows of a global batch and its loss weight.

    Rank r takes `idx[r::world]`; its mean loss is weighted by `n_r * world / n`, so the
    gradient DDP averages is the one of the global batch mean. A rank left without rows
    (batch smaller than `world`) runs the first row with weight 0.
    """
    n, w = len(idx), world()
    rows = idx[rank()::w]
    if not rows:
        return idx[:1], 0.0
    return rows, len(rows) * w / n


def step_seed(seed: int, step: int) -> int:
    """The torch seed of optimiser step `step` on this rank (dropout differs across ranks and
    does not depend on where a killed run resumed)."""
    return (seed * 1_000_003 + step) * 1009 + rank()
