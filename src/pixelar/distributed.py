"""Training on several processes with PyTorch's own engine: ``torch.distributed`` and
``DistributedDataParallel``, started by ``torchrun``.

``torchrun --nproc-per-node N -m pixelar train ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in every process; :func:`init` reads them and
joins the process group (NCCL on CUDA, gloo on the CPU). Without them (a plain ``pixelar train``)
the run is one process and nothing here communicates.

How a global batch is split (see :func:`shard`): every rank computes the same seeded list of the
step's image indices (``pixelar.training.batch_indices``) and takes its contiguous part, so the
images of a step, and hence the model, do not depend on the number of processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from pixelar.errors import PixelarError

__all__ = [
    "Context",
    "all_sum",
    "any_rank",
    "barrier",
    "current",
    "gradient_group",
    "init",
    "shard",
    "shard_range",
    "shutdown",
]


@dataclass(frozen=True)
class Context:
    """This process's place among the training processes (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"  # where collectives' tensors live (NCCL reduces CUDA tensors only)

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs and writes the run directory."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise PixelarError(
            f"environment variable {name}={text!r} is not an integer; start the run with torchrun"
        ) from None


def current() -> Context:
    """This process's rank and world size as torchrun set them (before or without :func:`init`)."""
    return Context(_env_int("RANK", 0), max(1, _env_int("WORLD_SIZE", 1)), _env_int("LOCAL_RANK", 0))


def init(device: str) -> tuple[Context, torch.device]:
    """Join the process group that torchrun set up (if any) and return this process's context
    and device (``cuda`` becomes ``cuda:LOCAL_RANK`` under torchrun)."""
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return Context(), torch.device(device)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    torch_device = torch.device(device)
    if torch_device.type == "cuda":
        if torch.cuda.device_count() <= local_rank:
            raise PixelarError(
                f"local rank {local_rank} has no GPU ({torch.cuda.device_count()} on this machine); "
                "start at most one process per GPU (torchrun --nproc-per-node)"
            )
        torch_device = torch.device("cuda", local_rank)
        torch.cuda.set_device(torch_device)
    ctx = Context(rank, world, local_rank, str(torch_device))
    if not dist.is_initialized():
        backend = "nccl" if torch_device.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=ctx.rank, world_size=ctx.world)
    return ctx, torch_device


def gradient_group() -> dist.ProcessGroup:
    """A process group of every rank for DistributedDataParallel's gradient reductions alone.

    PyTorch keeps a group that DDP has used alive, with its worker threads, until the process
    exits, whatever :func:`shutdown` does; every other collective (losses, evaluation sums, the
    stop flags: tensors that Python owns) runs on the default group, which :func:`shutdown`
    ends, its threads joined, while the interpreter is still whole. See :func:`shutdown`."""
    return dist.new_group(backend=dist.get_backend())


def shutdown() -> None:
    """Leave the process group, if this process joined one, ending its worker threads: every
    exit path of a distributed run calls this once, after its last collective.

    A gloo worker thread that finishes an operation releases the operation's tensors; for a
    tensor Python owns that takes the GIL, and taking it while the interpreter finalises aborts
    the process (SIGABRT, "terminate called without an active exception", from
    ``ProcessGroupGloo::runLoop``). A process that exits right after its last collective, with
    the group still up, does that now and then: after a run that finished its work. Destroying
    the default group joins its threads first; DDP's group (:func:`gradient_group`) stays up,
    but its operations hold only DDP's own buckets, long finished by then."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard_range(count: int, ctx: Context) -> tuple[int, int]:
    """[start, stop) of this rank's contiguous part of ``count`` items: parts differ in size by at
    most one, and together cover every item exactly once."""
    return count * ctx.rank // ctx.world, count * (ctx.rank + 1) // ctx.world


def shard(items: torch.Tensor, ctx: Context) -> torch.Tensor:
    """This rank's contiguous part of ``items`` (see :func:`shard_range`)."""
    start, stop = shard_range(len(items), ctx)
    return items[start:stop]


def all_sum(values: list[float], ctx: Context) -> list[float]:
    """The sums over all ranks of ``values`` (float64), unchanged when not distributed."""
    if not ctx.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def any_rank(flag: bool, ctx: Context) -> bool:
    """Whether ``flag`` is true on any rank (so that all ranks take the same branch)."""
    return all_sum([float(flag)], ctx)[0] > 0


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()
