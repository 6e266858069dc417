"""Device, mixed precision and DistributedDataParallel for the PyTorch trainer.

- CPU: float32, or with `cpu_mixed_precision` on a CPU with native bfloat16
  (`training_core/cpu_features.py`) autocast in bfloat16. The CPUs this process may use (its affinity mask, capped by a
  cgroup v2 `cpu.max` quota as in a Kubernetes pod with a CPU limit) are shared
  equally among the worker processes as intra-op threads: one process gets them all,
  as a plain PyTorch loop does. More threads than usable CPUs (a pod's limit below
  the node's core count) made steps several times slower (measured 7.5x on 2 busy
  cores).
- GPU without `mixed_precision`: float32. GPU with `mixed_precision`: autocast
  in bfloat16 where the GPU supports it, else float16 with a gradient scaler.
- Several processes (started by `launch.py` with PyTorch's elastic launcher, as
  `torchrun` does; `WORLD_SIZE`, `RANK`, `LOCAL_RANK` in the environment): each one
  joins the process group (NCCL on GPU, Gloo on CPU), trains on its shard of the
  data through `DistributedDataParallel`, and rank 0 alone writes checkpoints and
  exports.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from retrain.components.training_core.cpu_features import native_bfloat16


def usable_cpus(cgroup_cpu_max: str = "/sys/fs/cgroup/cpu.max") -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup v2 CPU quota (rounded up) when one is set."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path(cgroup_cpu_max).read_text().split()[:2]
    except (OSError, ValueError):
        return count
    if quota == "max":
        return count
    return max(1, min(count, math.ceil(int(quota) / int(period))))


@dataclass
class Accelerator:
    """Where and how training runs."""

    device: torch.device
    autocast_dtype: Optional[torch.dtype] = None
    rank: int = 0
    world_size: int = 1
    scaler: Optional["torch.amp.GradScaler"] = None
    cpu_threads: Optional[int] = None  # intra-op threads while training on CPU (None: leave as is)

    @classmethod
    def detect(
        cls,
        mixed_precision: bool = False,
        env: Optional[dict[str, str]] = None,
        cuda_available: Optional[bool] = None,
        bf16_supported: Optional[bool] = None,
        cpu_mixed_precision: bool = False,
        cpu_bf16: Optional[bool] = None,
    ) -> "Accelerator":
        """The plan for this process: GPU when CUDA is visible, else CPU (each with AMP if asked and supported), one of several DDP workers when WORLD_SIZE > 1."""
        env = dict(os.environ) if env is None else env
        cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
        world_size, rank = int(env.get("WORLD_SIZE", "1")), int(env.get("RANK", "0"))
        if not cuda:
            bf16_cpu = cpu_mixed_precision and (native_bfloat16() if cpu_bf16 is None else cpu_bf16)
            threads = max(1, usable_cpus() // max(1, world_size))
            return cls(torch.device("cpu"), torch.bfloat16 if bf16_cpu else None, rank, world_size, cpu_threads=threads)
        local_rank = int(env.get("LOCAL_RANK", "0"))
        if not mixed_precision:
            return cls(torch.device("cuda", local_rank), None, rank, world_size)
        bf16 = torch.cuda.is_bf16_supported() if bf16_supported is None else bf16_supported
        dtype = torch.bfloat16 if bf16 else torch.float16
        scaler = None if bf16 else torch.amp.GradScaler("cuda")
        return cls(torch.device("cuda", local_rank), dtype, rank, world_size, scaler)

    @property
    def is_main_process(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def init_distributed(self) -> None:
        """Joins the process group (NCCL on GPU, Gloo on CPU) when there is more than one process."""
        if self.distributed and not dist.is_initialized():
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo", device_id=self.device if self.device.type == "cuda" else None)

    def close_distributed(self) -> None:
        """Leaves the process group (no-op for one process)."""
        if dist.is_initialized():
            dist.destroy_process_group()

    def wrap(self, module: nn.Module) -> nn.Module:
        """`module` as DistributedDataParallel over its parameters that require gradients now (itself for one process).

        Build a new wrapper whenever the trainable set changes (every phase): DDP
        registers its gradient hooks and buckets for the parameters that require
        gradients when it is constructed, so frozen parameters cost nothing and are
        never synchronised, and a parameter unfrozen later would be silently left out
        of a wrapper built earlier. `static_graph=True` because within one phase every
        step runs the same graph; it also lets a trainable parameter that the loss
        never reaches (a Hugging Face encoder's pooler, computed but not used for
        the pooled embedding) stay without gradient, as in one process, where
        `find_unused_parameters=False` would fail on it and `True` would walk the
        autograd graph after every step to find it. Buffers (BatchNorm statistics)
        are broadcast from rank 0 before every forward pass (see `sync_buffers`).
        """
        if not self.distributed:
            return module
        device_ids = [self.device] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids, static_graph=True)

    def sum_across(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums of `values` over all processes (the values themselves for one process)."""
        if not self.distributed:
            return list(values)
        tensor = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.tolist()

    def max_across(self, value: int) -> int:
        """The largest `value` of all processes."""
        if not self.distributed:
            return value
        tensor = torch.tensor([value], dtype=torch.int64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return int(tensor.item())

    def sync_buffers(self, module: nn.Module) -> None:
        """Copies rank 0's buffers (BatchNorm running statistics) to every process.

        DDP broadcasts them before each forward pass, so after the last training step
        of an epoch each rank holds statistics updated by its own last batch.
        """
        if self.distributed:
            for buffer in module.buffers():
                dist.broadcast(buffer.data, src=0)

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if self.autocast_dtype is None:
            yield
        else:
            with torch.autocast(self.device.type, dtype=self.autocast_dtype):
                yield

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is not None:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()
