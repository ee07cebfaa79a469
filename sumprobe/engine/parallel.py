"""Several processes, one device each (`torchrun` or `accelerate launch`): who am I, and the two
collective steps scoring needs (rank 0's cache hits to everyone; everyone's results to everyone).

The launchers set RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address; `join()` turns them
into a torch.distributed process group (NCCL on CUDA, gloo on CPU). Without them everything
here is a one-process no-op, and nothing else in sumprobe needs to know the difference.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """The process that prints, writes files and writes the cache."""
        return self.rank == 0

    def gather(self, value) -> list:
        """Every process's `value`, in rank order, on every process."""
        if self.size == 1:
            return [value]
        import torch.distributed as dist

        gathered: list = [None] * self.size
        dist.all_gather_object(gathered, value)
        return gathered

    def broadcast(self, value):
        """Rank 0's `value` on every process."""
        if self.size == 1:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def launched() -> bool:
    """Started by torchrun / accelerate launch with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join() -> World:
    """Join the launcher's process group (once) and bind this process to its GPU, if any."""
    if not launched():
        return World()
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
    return World(dist.get_rank(), dist.get_world_size())


def current() -> World:
    """The process group joined so far (one process when none)."""
    if not launched():
        return World()
    import torch.distributed as dist

    if not dist.is_initialized():
        return World()
    return World(dist.get_rank(), dist.get_world_size())


def leave() -> None:
    """Tear down the process group, if this process joined one (ours or the one accelerate
    starts inside trl's trainers). Left for interpreter exit, gloo's worker threads were at
    times destroyed while still joinable: the process aborted ('terminate called without an
    active exception', SIGABRT) after its work was done, and the launcher called the run failed."""
    import sys

    if "torch.distributed" not in sys.modules:
        return  # nothing scored or trained: no group can exist, and torch need not load
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception:  # noqa: BLE001 - a failed peer: leaving must not hide the exit code
            pass
