"""Starting a training stage in several processes: which stages may, whether params ask for it,
and the launcher command (`torch.distributed.run` or `accelerate launch`) that replaces this
process. Imports no torch: every stage script's set-up (`xstilts.core.stage`) reads it, and the
analysis stages run without torch. The process group itself: `xstilts.core.distributed`."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

# stages that train, of every family (`xstilts.core.cell` runs them on every rank)
STAGES = tuple(f"{prefix}{phase}" for prefix in ("", "volume_", "multilingual_", "scaling_")
               for phase in ("intermediate", "target"))


def launched() -> bool:
    """True inside a process started by torch.distributed.run / accelerate launch (N > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def wants_launch(rt) -> bool:
    """True if runtime params ask for a multi-process launch (`rt`: RuntimeParams)."""
    return rt.num_processes > 1 or rt.accelerate_config is not None


def launch_command(rt, argv: list[str]) -> list[str]:
    """The command that runs `argv` (script + its arguments) under a multi-process launcher.

    With `rt.accelerate_config`: `accelerate launch --config_file F` (the file holds the
    machines, ranks and the main process address, `distributed_type: MULTI_GPU` starts the
    processes with torch.distributed.run; `rt.num_processes > 1` overrides its
    `num_processes`, the total over all machines). Otherwise `torch.distributed.run
    --standalone --nproc_per_node N` on this machine (a free rendezvous port). CPU or GPU is
    chosen inside the processes from `runtime.device` (`init`).
    """
    script, *args = argv
    if rt.accelerate_config is not None:
        config = Path(os.path.expandvars(os.path.expanduser(rt.accelerate_config)))
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
        if rt.num_processes > 1:
            cmd += ["--num_processes", str(rt.num_processes)]
        return [*cmd, script, *args]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc_per_node", str(rt.num_processes), script, *args]


def relaunch(rt, argv: list[str] | None = None) -> None:
    """Replace this process by the launcher running the same stage in N processes."""
    argv = list(sys.argv if argv is None else argv)
    if rt.accelerate_config is not None:
        config = Path(os.path.expandvars(os.path.expanduser(rt.accelerate_config)))
        if not config.is_file():
            raise FileNotFoundError(f"runtime.accelerate_config: {config} is not a file "
                                    "(write one with `accelerate config --config_file ...`)")
    cmd = launch_command(rt, argv)
    logging.getLogger(__name__).info("runtime: %s processes: %s", rt.num_processes,
                                     " ".join(cmd))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)
