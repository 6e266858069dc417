"""Device, mixed precision and multi-process data parallelism for the PyTorch trainer.

- CPU: float32, with half the cores as intra-op threads: TensorFlow's thread pools
  share the TFX process, and oversubscribed OpenMP threads made small-model steps
  several times slower than one thread (measured 7.5x on 2 busy cores).
- GPU without `mixed_precision`: float32. GPU with `mixed_precision`: autocast
  in bfloat16 where the GPU supports it, else float16 with a gradient scaler.
- Several GPUs: launch the trainer with `torchrun --nproc_per_node=N`; each
  process trains on its shard of the data (see `data.shard_index`) and gradients
  are averaged across processes after every backward pass (what DDP does), so
  every rank keeps identical weights; rank 0 writes checkpoints and exports.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import torch
import torch.distributed as dist


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
        cls, mixed_precision: bool = False, env: Optional[dict[str, str]] = None, cuda_available: Optional[bool] = None, bf16_supported: Optional[bool] = None
    ) -> "Accelerator":
        """The plan for this process: GPU when CUDA is visible (AMP if asked), data parallel under torchrun (WORLD_SIZE > 1)."""
        env = dict(os.environ) if env is None else env
        cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
        world_size, rank = int(env.get("WORLD_SIZE", "1")), int(env.get("RANK", "0"))
        if not cuda:
            return cls(torch.device("cpu"), None, rank, world_size, cpu_threads=max(1, (os.cpu_count() or 2) // 2))
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

    def init_distributed(self) -> None:
        """Joins the torchrun process group (NCCL on GPU, Gloo on CPU) when there is more than one process."""
        if self.world_size > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)

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


def average_gradients(parameters: Sequence[torch.nn.Parameter], accelerator: Accelerator) -> None:
    """All-reduces and averages the gradients of `parameters` across processes (no-op for one process)."""
    if accelerator.world_size <= 1 or not dist.is_initialized():
        return
    for parameter in parameters:
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
            parameter.grad /= accelerator.world_size
