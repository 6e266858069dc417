"""Training the PyTorch classifier: the core's modes and phases, per-group learning rates, resumable.

The plan, phases, training groups, schedule and divergence guard are the neutral core's
(components/training_core/), shared with the TF trainer: `feature_extraction` trains the head on backbone
embeddings computed once; `fine_tune` trains everything, the backbone at
`learning_rate * backbone_learning_rate_scale`; `incremental` trains the head,
then the top `unfreeze_blocks` blocks with layer-wise decay. Parameters outside
the chosen groups get no gradient and no update. `backbone_train_mode: inference` runs
the backbone in eval mode (pretrained BatchNorm statistics, no dropout) even while
its weights train; `training` puts it in train mode whenever it trains. The learning-rate
schedule (`learning_rate_factor`, per step) and early stopping (best validation
accuracy, `early_stopping_patience` epochs, best weights restored) are the TF
trainer's too, and so is the divergence guard. With several processes each phase trains through its own
DistributedDataParallel wrapper (`Accelerator.wrap`); epoch metrics are summed
over the ranks, so every rank records, checkpoints and stops alike.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence

import torch
from torch import nn

from retrain.components.torch_trainer.accelerate import Accelerator
from retrain.components.torch_trainer.data import take
from retrain.components.torch_trainer.model import Classifier, parameter_blocks
from retrain.components.training_core.groups import training_groups
from retrain.components.training_core.plan import Phase, TrainingPlan, guard_for, phases
from retrain.components.training_core.progress import ProgressLine
from retrain.components.training_core.schedule import learning_rate_factor

CHECKPOINT_FILE = "checkpoint.pt"
INFERENCE_BATCH = 1024  # embedding and validation passes: no gradients, so larger batches


@dataclass
class EpochRecord:
    """One epoch's metrics (validation ones are None without validation data)."""

    epoch: int
    phase: str
    loss: float
    accuracy: float
    val_loss: Optional[float] = None
    val_accuracy: Optional[float] = None
    seconds: float = 0.0  # wall time of the epoch's training steps and validation
    examples: int = 0  # training examples seen in the epoch (all processes)


@dataclass
class TrainingState:
    """What a checkpoint holds: where training is and everything needed to continue bit for bit."""

    phase_index: int = 0
    epoch_in_phase: int = 0
    history: list[EpochRecord] = field(default_factory=list)
    best_accuracy: float = -math.inf
    best_state: Optional[dict[str, torch.Tensor]] = None
    bad_epochs: int = 0


def set_trainable(model: Classifier, groups: Sequence[Any]) -> None:
    """Only parameters of `groups` require gradients; every other parameter is frozen."""
    chosen = {id(parameter) for group in groups for parameter in group.variables}
    for parameter in model.parameters():
        parameter.requires_grad_(id(parameter) in chosen)


def set_modes(model: Classifier, backbone_trains: bool, backbone_train_mode: str) -> None:
    """Head in train mode; backbone in train mode only when it trains and `backbone_train_mode` is `training`."""
    model.train()
    model.backbone.train(backbone_trains and backbone_train_mode == "training")


FUSED_ADAM_DEVICES = ("cpu", "cuda")


def _optimizer(groups: Sequence[Any], device: torch.device) -> torch.optim.Optimizer:
    """Adam over the groups, one learning rate each; PyTorch's fused kernel on CPU and CUDA.

    The default (one small kernel per parameter and operation) cost 135-150 ms of CPU per
    step on MiniLM-L6's 22.7M parameters, the fused one 15 ms (1 thread), with the same
    updates up to float rounding.
    """
    param_groups = [{"params": list(group.variables), "lr": group.learning_rate, "name": group.name} for group in groups if group.variables]
    return torch.optim.Adam(param_groups, fused=device.type in FUSED_ADAM_DEVICES or None)


def _batches(count: int, batch_size: int, generator: Optional[torch.Generator]) -> list[torch.Tensor]:
    order = torch.randperm(count, generator=generator) if generator is not None else torch.arange(count)
    return list(order.split(batch_size))


def _to(inputs: Any, device: torch.device) -> Any:
    return inputs if isinstance(inputs, list) else inputs.to(device, non_blocking=True)


def embeddings(model: Classifier, inputs: Any, batch_size: int, accelerator: Accelerator, what: str = "examples") -> torch.Tensor:
    """Backbone embeddings of every input, in eval mode (the feature-extraction cache); progress lines from the main process."""
    model.backbone.eval()
    line = ProgressLine(f"embedding {what}", len(inputs), "examples") if accelerator.is_main_process else None
    parts: list[torch.Tensor] = []
    with torch.no_grad(), accelerator.autocast():
        for index in _batches(len(inputs), batch_size, None):
            parts.append(model.embed(_to(take(inputs, index), accelerator.device)).float())
            if line is not None:
                line.update(int(index[-1]) + 1)
    if line is not None:
        line.close()
    return torch.cat(parts)


def _evaluate(
    forward: Callable[[Any], torch.Tensor], inputs: Any, labels: torch.Tensor, loss_fn: nn.Module, batch_size: int, accelerator: Accelerator
) -> tuple[float, float]:
    total_loss, correct = 0.0, 0
    with torch.no_grad(), accelerator.autocast():
        for index in _batches(len(labels), batch_size, None):
            y = labels[index].to(accelerator.device)
            logits = forward(_to(take(inputs, index), accelerator.device)).float()
            total_loss += float(loss_fn(logits, y)) * len(index)
            correct += int((logits.argmax(-1) == y).sum())
    return total_loss / len(labels), correct / len(labels)


def save_checkpoint(path: str, model: nn.Module, optimizer: torch.optim.Optimizer, state: TrainingState) -> None:
    """Writes the model, optimizer and progress atomically (tensors and plain values only)."""
    payload = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "phase_index": state.phase_index,
        "epoch_in_phase": state.epoch_in_phase,
        "history": [vars(record) for record in state.history],
        "best_accuracy": state.best_accuracy,
        "best_state": state.best_state,
        "bad_epochs": state.bad_epochs,
    }
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    torch.save(payload, f"{path}.partial")
    os.replace(f"{path}.partial", path)


def load_checkpoint(path: str) -> dict[str, Any]:
    """Reads a checkpoint with `weights_only=True` (never unpickles arbitrary objects)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def train_classifier(
    model: Classifier,
    train: tuple[Any, torch.Tensor],
    plan: TrainingPlan,
    validation: Optional[tuple[Any, torch.Tensor]] = None,
    class_weights: Optional[Sequence[float]] = None,
    backbone_train_mode: str = "inference",
    checkpoint_dir: Optional[str] = None,
    on_epoch_end: Optional[Callable[[EpochRecord], None]] = None,
    accelerator: Optional[Accelerator] = None,
) -> list[EpochRecord]:
    """Runs every phase of `plan` on (inputs, label ids); resumes from `checkpoint_dir` when it holds a checkpoint.

    Returns one record per epoch (over all phases, including epochs done before a resume).
    With several processes, `train` is this rank's shard (the same size on every rank),
    `validation` the whole validation set, and `plan.batch_size` the global batch:
    each rank takes its share of every batch, so an epoch has as many steps as in one process.
    """
    accelerator = accelerator or Accelerator.detect()
    model.to(accelerator.device)
    weight = torch.tensor(class_weights, dtype=torch.float32, device=accelerator.device) if class_weights is not None else None
    checkpoint_path = os.path.join(checkpoint_dir, CHECKPOINT_FILE) if checkpoint_dir else None
    state, saved = TrainingState(), None
    if checkpoint_path and os.path.exists(checkpoint_path):
        saved = load_checkpoint(checkpoint_path)
        model.load_state_dict(saved["model"])
        state = TrainingState(
            saved["phase_index"],
            saved["epoch_in_phase"],
            [EpochRecord(**record) for record in saved["history"]],
            saved["best_accuracy"],
            saved["best_state"],
            saved["bad_epochs"],
        )
    run = _Run(
        model,
        plan,
        nn.CrossEntropyLoss(weight=weight, label_smoothing=plan.label_smoothing),
        backbone_train_mode,
        state,
        checkpoint_path,
        on_epoch_end,
        accelerator,
    )
    with _threads(accelerator.cpu_threads):
        _train_phases(run, train, validation, saved)
    return run.state.history


@dataclass
class _Run:
    """What every phase of one `train_classifier` call shares."""

    model: Classifier
    plan: TrainingPlan
    loss_fn: nn.Module
    backbone_train_mode: str
    state: TrainingState
    checkpoint_path: Optional[str]
    on_epoch_end: Optional[Callable[[EpochRecord], None]]
    accelerator: Accelerator


@dataclass
class _PhaseContext:
    """One phase: its optimizer, the data it trains on (raw inputs or cached embeddings) and the forward passes.

    `train_forward` is the DDP-wrapped module with several processes (gradients are
    averaged across ranks in backward); `eval_forward` the plain one (no synchronisation).
    """

    run: _Run
    phase: Phase
    optimizer: torch.optim.Optimizer
    train_forward: Callable[[Any], torch.Tensor]
    eval_forward: Callable[[Any], torch.Tensor]
    train: tuple[Any, torch.Tensor]
    validation: Optional[tuple[Any, torch.Tensor]]

    @property
    def backbone_trains(self) -> bool:
        return bool(self.phase.unfreeze_blocks)


def _train_phases(
    run: _Run, train: tuple[Any, torch.Tensor], validation: Optional[tuple[Any, torch.Tensor]], saved: Optional[dict[str, Any]]
) -> None:
    model, plan = run.model, run.plan
    blocks = parameter_blocks(model.backbone, plan.block_pattern)
    cache: dict[str, torch.Tensor] = {}
    for phase_index, phase in enumerate(phases(plan)):
        if phase_index < run.state.phase_index:
            continue
        if phase.unfreeze_blocks and not blocks:
            raise ValueError(f"mode {plan.mode!r} needs a trainable backbone, but it exposes no parameters")
        groups = training_groups(
            model.head_parameters(), blocks, plan.learning_rate, phase.backbone_learning_rate_scale, phase.unfreeze_blocks, phase.layer_decay
        )
        set_trainable(model, groups)
        optimizer = _optimizer(groups, run.accelerator.device)
        if saved is not None and phase_index == saved["phase_index"]:
            optimizer.load_state_dict(saved["optimizer"])
        _run_phase(run, phase, optimizer, train, validation, cache)
        run.state = TrainingState(phase_index + 1, 0, run.state.history)
        saved = None


@contextlib.contextmanager
def _threads(count: Optional[int]) -> Iterator[None]:
    """Runs the block with `count` intra-op threads (unchanged for None)."""
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _run_phase(
    run: _Run,
    phase: Phase,
    optimizer: torch.optim.Optimizer,
    train: tuple[Any, torch.Tensor],
    validation: Optional[tuple[Any, torch.Tensor]],
    cache: dict[str, torch.Tensor],
) -> None:
    model, accelerator = run.model, run.accelerator
    backbone_trains = bool(phase.unfreeze_blocks)
    x, y = train
    module: nn.Module = model
    if not backbone_trains:  # the backbone is frozen: embed once, train the head on the cache
        if "train" not in cache:
            cache["train"] = embeddings(model, x, INFERENCE_BATCH, accelerator, "train examples")
            if validation is not None:
                cache["validation"] = embeddings(model, validation[0], INFERENCE_BATCH, accelerator, "validation examples")
        x, module = cache["train"], nn.Sequential(model.hidden, model.logits)
        validation = (cache["validation"], validation[1]) if validation is not None else None
    context = _PhaseContext(run, phase, optimizer, accelerator.wrap(module), module, (x, y), validation)
    # Head-only steps on [batch, embedding] tensors are too small to split across threads: one CPU thread is faster.
    with _threads(1 if not backbone_trains and accelerator.device.type == "cpu" else None):
        _epochs(context)
    del context  # frees the phase's DDP wrapper, whose gradient hooks must not outlive the phase
    if run.state.best_state is not None:
        model.load_state_dict(run.state.best_state)


def _epochs(context: _PhaseContext) -> None:
    """The remaining epochs of one phase, checkpointing after each; stops early when asked to."""
    run, phase, optimizer = context.run, context.phase, context.optimizer
    model, plan, state, accelerator = run.model, run.plan, run.state, run.accelerator
    (x, y), base_rates = context.train, [group["lr"] for group in optimizer.param_groups]
    batch_size = math.ceil(plan.batch_size / accelerator.world_size)  # this rank's share of the global batch
    guard = guard_for(plan, phase, model.logits.out_features)
    for epoch in range(state.epoch_in_phase, phase.epochs):
        global_epoch = len(state.history)
        torch.manual_seed(
            plan.seed * 100_003 + global_epoch + 1_000_003 * accelerator.rank
        )  # dropout: same draws after a resume, other draws per rank
        generator = torch.Generator().manual_seed(plan.seed * 100_003 + global_epoch)
        set_modes(model, context.backbone_trains, run.backbone_train_mode)
        total_loss, correct, predicted = 0.0, 0, torch.zeros(model.logits.out_features, dtype=torch.long)
        batches = _batches(len(y), batch_size, generator)
        line = ProgressLine(f"torch epoch {global_epoch + 1} ({phase.name})", len(batches)) if accelerator.is_main_process else None
        for step, index in enumerate(batches):
            factor = learning_rate_factor(epoch + step / len(batches), 1 / len(batches), phase.epochs, plan.warmup_epochs, plan.lr_schedule)
            for group, rate in zip(optimizer.param_groups, base_rates):
                group["lr"] = rate * factor
            batch_y = y[index].to(accelerator.device)
            with accelerator.autocast():
                logits = context.train_forward(_to(take(x, index), accelerator.device)).float()
                loss = run.loss_fn(logits, batch_y)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            accelerator.step(optimizer)
            total_loss += float(loss.detach()) * len(index)
            correct += int((logits.argmax(-1) == batch_y).sum())
            predicted += torch.bincount(logits.argmax(-1).cpu(), minlength=model.logits.out_features)
            if line is not None:
                line.update(step + 1)
        for group, rate in zip(optimizer.param_groups, base_rates):
            group["lr"] = rate  # the checkpoint keeps the phase's base rates
        accelerator.sync_buffers(model)
        total_loss, correct, count, *per_class = accelerator.sum_across([total_loss, correct, len(y), *predicted.tolist()])
        record = EpochRecord(global_epoch, phase.name, total_loss / count, correct / count, examples=int(count))
        if context.validation is not None:
            model.eval()
            metrics = _evaluate(context.eval_forward, *context.validation, run.loss_fn, INFERENCE_BATCH, accelerator)
            # every rank evaluates the same data; the mean makes their early-stopping decisions identical by construction
            record.val_loss, record.val_accuracy = (value / accelerator.world_size for value in accelerator.sum_across(metrics))
        if line is not None:
            line.close()
            record.seconds = line.elapsed()
        if guard is not None:  # every rank sees the same sums, so every rank stops alike
            guard.check(record.loss, sum(1 for value in per_class if value > 0))
        state.history.append(record)
        state.epoch_in_phase = epoch + 1
        stop = _early_stop(model, record, plan.early_stopping_patience, state)
        if run.checkpoint_path and accelerator.is_main_process:
            save_checkpoint(run.checkpoint_path, model, optimizer, state)
        if run.on_epoch_end is not None:
            run.on_epoch_end(record)
        if stop:
            break


def _early_stop(model: nn.Module, record: EpochRecord, patience: int, state: TrainingState) -> bool:
    """Tracks the phase's best validation accuracy; True once `patience` epochs did not improve it."""
    if not patience or record.val_accuracy is None:
        return False
    if record.val_accuracy > state.best_accuracy:
        state.best_accuracy, state.bad_epochs = record.val_accuracy, 0
        state.best_state = {name: value.detach().clone() for name, value in model.state_dict().items()}
        return False
    state.bad_epochs += 1
    return state.bad_epochs >= patience
