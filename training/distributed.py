"""Single-process and torchrun (DDP) runs behind one small interface.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; without them the run is one process and every helper
here is a no-op. Backend: nccl on CUDA, gloo on the CPU. Only rank 0 writes files and prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from neuron_core.recognizer import resolve_device


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def setup(device: str = "auto") -> Dist:
    """Join the torchrun group when launched by torchrun; pick the device (one GPU per rank)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(resolve_device(device))
    if dev.type == "cuda":
        dev = torch.device("cuda", local % max(torch.cuda.device_count(), 1))
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank, world, dev)


def teardown(d: Dist, finished: bool = True) -> None:
    """Leave the group. After a finished run every rank meets at a barrier first: a rank that
    destroyed its gloo group while rank 0 was still writing results had its peer connection closed
    under it, and torchrun saw a SIGABRT now and then. After a failure no barrier: the other ranks
    may never arrive."""
    if d.active and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def barrier(d: Dist) -> None:
    if d.active:
        dist.barrier()


def shard(n: int, d: Dist) -> range:
    """The indices of ``n`` items this rank handles: rank, rank + world, ... (no padding, no repeats)."""
    return range(d.rank, n, d.world)


def gather_shards(local: torch.Tensor, n: int, d: Dist) -> torch.Tensor:
    """Reassemble per-rank results of :func:`shard` into the original order, on every rank."""
    if not d.active:
        return local
    size = -(-n // d.world)
    padded = torch.zeros((size, *local.shape[1:]), dtype=local.dtype, device=local.device)
    padded[: local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in range(d.world)]
    dist.all_gather(parts, padded)
    out = torch.empty((n, *local.shape[1:]), dtype=local.dtype, device=local.device)
    for r, part in enumerate(parts):
        count = len(range(r, n, d.world))
        out[r :: d.world] = part[:count]
    return out


def all_mean(value: float, d: Dist) -> float:
    """Mean of a scalar over ranks (for logging a loss)."""
    if not d.active:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=d.device)
    dist.all_reduce(t)
    return float(t.item()) / d.world
