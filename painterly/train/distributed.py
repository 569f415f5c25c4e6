"""Multi-process training with PyTorch's own DDP, as started by ``torchrun``.

``torchrun --nproc-per-node N -m painterly train ...`` sets ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK``; :func:`setup` then joins the process group (gloo on CPU, nccl on CUDA). Only
rank 0 writes files. Nothing here runs when ``WORLD_SIZE`` is unset or 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from painterly.errors import PainterlyError


LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class DistributedInfo:
    """This process's place in the job.

    Attributes:
        rank, world_size, local_rank: as ``torchrun`` sets them (0, 1, 0 when alone).
        owns_group: whether :func:`setup` created the process group (and so must destroy it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: torch.device) -> DistributedInfo:
    """Join the process group ``torchrun`` (or a test's spawn) described in the environment."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedInfo()
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    if dist.is_initialized():
        return DistributedInfo(dist.get_rank(), dist.get_world_size(), local_rank, owns_group=False)
    if not dist.is_available():
        raise PainterlyError("this PyTorch build has no torch.distributed: train with one process")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    if backend == "gloo" and os.environ.get("MASTER_ADDR") in LOOPBACK and "GLOO_SOCKET_IFNAME" not in os.environ:
        # Gloo otherwise connects through the address the hostname resolves to, which a sandbox
        # may not route: a one-machine job then waits forever.
        os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    # A process that never joins (or a peer that died) ends in an error instead of a hang.
    timeout = timedelta(seconds=float(os.environ.get("PAINTERLY_DDP_TIMEOUT", "600")))
    dist.init_process_group(backend=backend, rank=rank, world_size=world_size, timeout=timeout)
    return DistributedInfo(rank, world_size, local_rank, owns_group=True)


def process_device(device: torch.device, info: DistributedInfo) -> torch.device:
    """One GPU per process: ``cuda`` becomes ``cuda:LOCAL_RANK`` in a multi-process job."""
    if info.enabled and device.type == "cuda" and device.index is None:
        return torch.device("cuda", info.local_rank)
    return device


def mean_over_processes(values: dict[str, float], info: DistributedInfo, device: torch.device) -> dict[str, float]:
    """The average of each named value over all processes (the values themselves when alone)."""
    if not info.enabled or not values:
        return values
    names = sorted(values)
    tensor = torch.tensor([values[name] for name in names], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    tensor /= info.world_size
    return dict(zip(names, tensor.tolist()))


def any_process(flag: bool, info: DistributedInfo, device: torch.device) -> bool:
    """Whether ``flag`` is set on any process (``flag`` itself when alone); every process must call it."""
    if not info.enabled:
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(tensor)
    return bool(tensor.item() > 0)


def average_gradients(module: torch.nn.Module, info: DistributedInfo) -> None:
    """Average the gradients of ``module``'s parameters over all processes, in place (for
    networks trained without the DDP wrapper, e.g. with a double backward)."""
    if not info.enabled:
        return
    for parameter in module.parameters():
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad)
            parameter.grad /= info.world_size


def barrier(info: DistributedInfo) -> None:
    if info.enabled:
        dist.barrier()


def teardown(info: DistributedInfo, synchronize: bool = False) -> None:
    """Leave the process group this process created; ``synchronize``: first wait for the others
    (after a finished run), so that no process tears its connections down while a peer still uses them."""
    if info.owns_group and dist.is_initialized():
        if synchronize:
            dist.barrier()
        dist.destroy_process_group()
