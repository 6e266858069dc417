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
trainer's too, and so is the divergence guard. With several tasks (`plan.tasks`, a
`MultiTaskClassifier`) the loss is their weighted sum (`task_losses.py`), each task has its
own divergence guard, and an epoch's accuracy (what early stopping watches) is the tasks'
mean, as in the TF trainer. With several processes each phase trains through its own
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
from retrain.components.torch_trainer.model import MultiTaskClassifier, TransferModel, parameter_blocks
from retrain.components.torch_trainer.task_losses import (
    TaskLoss,
    check_labels,
    phase_guards,
    task_label_ids,
    task_logits,
    task_losses,
    weighted_loss,
)
from retrain.components.training_core.collection import earlier_objects_frozen
from retrain.components.training_core.groups import training_groups
from retrain.components.training_core.plan import Phase, TrainingPlan, phases
from retrain.components.training_core.progress import ProgressLine
from retrain.components.training_core.schedule import learning_rate_factor

CHECKPOINT_FILE = "checkpoint.pt"
INFERENCE_BATCH = 1024  # embedding and validation passes: no gradients, so larger batches


@dataclass
class EpochRecord:
    """One epoch's metrics (validation ones are None without validation data).

    With several tasks `accuracy`/`val_accuracy` are the tasks' mean and `task_accuracy`/`val_task_accuracy` each task's.
    """

    epoch: int
    phase: str
    loss: float
    accuracy: float
    val_loss: Optional[float] = None
    val_accuracy: Optional[float] = None
    seconds: float = 0.0  # wall time of the epoch's training steps and validation
    examples: int = 0  # training examples seen in the epoch (all processes)
    task_accuracy: Optional[dict[str, float]] = None
    val_task_accuracy: Optional[dict[str, float]] = None


@dataclass
class TrainingState:
    """What a checkpoint holds: where training is and everything needed to continue bit for bit."""

    phase_index: int = 0
    epoch_in_phase: int = 0
    history: list[EpochRecord] = field(default_factory=list)
    best_accuracy: float = -math.inf
    best_state: Optional[dict[str, torch.Tensor]] = None
    bad_epochs: int = 0


def set_trainable(model: TransferModel, groups: Sequence[Any]) -> None:
    """Only parameters of `groups` require gradients; every other parameter is frozen."""
    chosen = {id(parameter) for group in groups for parameter in group.variables}
    for parameter in model.parameters():
        parameter.requires_grad_(id(parameter) in chosen)


def set_modes(model: TransferModel, backbone_trains: bool, backbone_train_mode: str) -> None:
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


def embeddings(model: TransferModel, inputs: Any, batch_size: int, accelerator: Accelerator, what: str = "examples") -> torch.Tensor:
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
    forward: Callable[[Any], Any], inputs: Any, labels: torch.Tensor, tasks: Sequence[TaskLoss], batch_size: int, accelerator: Accelerator
) -> list[float]:
    """[loss, each task's accuracy] on `inputs` (the loss: the tasks' weighted sum)."""
    total_loss, correct = 0.0, [0] * len(tasks)
    with torch.no_grad(), accelerator.autocast():
        for index in _batches(len(labels), batch_size, None):
            y = labels[index].to(accelerator.device)
            logits = task_logits(forward(_to(take(inputs, index), accelerator.device)), tasks)
            ids = [task_label_ids(y, i) for i in range(len(tasks))]
            total_loss += float(weighted_loss([task.loss_fn(out, truth) for task, out, truth in zip(tasks, logits, ids)], tasks)) * len(index)
            for i, (out, truth) in enumerate(zip(logits, ids)):
                correct[i] += int((out.argmax(-1) == truth).sum())
    return [total_loss / len(labels), *(count / len(labels) for count in correct)]


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
    model: TransferModel,
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
    With several tasks (`plan.tasks`) `model` is a `MultiTaskClassifier` with their heads in that order,
    the label ids are [examples, tasks] and each task's class weights are in `plan.tasks`.
    With several processes, `train` is this rank's shard (the same size on every rank),
    `validation` the whole validation set, and `plan.batch_size` the global batch:
    each rank takes its share of every batch, so an epoch has as many steps as in one process.
    Without `accelerator`, this process's own (`Accelerator.detect`, with `plan.cpu_mixed_precision`).
    Objects that exist before training are left out of garbage collection while it runs (`collection.py`).
    """
    accelerator = accelerator or Accelerator.detect(cpu_mixed_precision=plan.cpu_mixed_precision)
    model.to(accelerator.device)
    tasks = _tasks_of(model, plan, class_weights, accelerator.device)
    for data in (train, validation):
        if data is not None:
            check_labels(data[1], tasks)
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
        tasks,
        backbone_train_mode,
        state,
        checkpoint_path,
        on_epoch_end,
        accelerator,
    )
    with _threads(accelerator.cpu_threads), earlier_objects_frozen():
        _train_phases(run, train, validation, saved)
    return run.state.history


def _tasks_of(model: TransferModel, plan: TrainingPlan, class_weights: Optional[Sequence[float]], device: torch.device) -> list[TaskLoss]:
    """The losses of the model's heads: one head, or (a MultiTaskClassifier) the plan's tasks, which must be its heads."""
    if isinstance(model, MultiTaskClassifier):
        heads, planned = list(model.heads), [task.name for task in plan.tasks]
        if heads != planned or not plan.multitask:
            raise ValueError(f"the model's heads {heads} are not the plan's tasks {planned}")
        return task_losses(plan, 0, class_weights, device)
    if plan.multitask:
        raise ValueError(f"the plan has several tasks {[task.name for task in plan.tasks]} but the model has one head")
    return task_losses(plan, model.logits.out_features, class_weights, device)


@dataclass
class _Run:
    """What every phase of one `train_classifier` call shares."""

    model: TransferModel
    plan: TrainingPlan
    tasks: list[TaskLoss]
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
        x, module = cache["train"], model.head_module()
        validation = (cache["validation"], validation[1]) if validation is not None else None
    context = _PhaseContext(run, phase, optimizer, accelerator.wrap(module), module, (x, y), validation)
    # Head-only steps on [batch, embedding] tensors are too small to split across threads: one CPU thread is faster.
    with _threads(1 if not backbone_trains and accelerator.device.type == "cpu" else None):
        _epochs(context)
    del context  # frees the phase's DDP wrapper, whose gradient hooks must not outlive the phase
    if run.state.best_state is not None:
        model.load_state_dict(run.state.best_state)


class _EpochTally:
    """One epoch's sums over this rank's training steps: the loss, and per task its loss, right predictions and predicted classes."""

    def __init__(self, tasks: Sequence[TaskLoss]) -> None:
        self.tasks = tasks
        self.loss, self.task_loss, self.correct = 0.0, [0.0] * len(tasks), [0] * len(tasks)
        self.predicted = [torch.zeros(task.num_classes, dtype=torch.long) for task in tasks]

    def add(self, loss: torch.Tensor, losses: Sequence[torch.Tensor], logits: Sequence[torch.Tensor], ids: Sequence[torch.Tensor]) -> None:
        examples = len(ids[0])
        values = [float(part.detach()) for part in losses]  # one head: its loss is `loss`
        self.loss += (values[0] if len(values) == 1 else float(loss.detach())) * examples
        for i, task in enumerate(self.tasks):
            self.task_loss[i] += values[i] * examples
            predicted = logits[i].argmax(-1)
            self.correct[i] += int((predicted == ids[i]).sum())
            self.predicted[i] += torch.bincount(predicted.cpu(), minlength=task.num_classes)

    def record(self, epoch: int, phase: str, examples: int, accelerator: Accelerator) -> tuple["EpochRecord", list[float], list[int]]:
        """The epoch's record summed over every rank, each task's mean loss and how many classes it predicted."""
        flat = [self.loss, examples, *self.task_loss, *self.correct, *(value for counts in self.predicted for value in counts.tolist())]
        total, count, *rest = accelerator.sum_across(flat)
        tasks = len(self.tasks)
        task_loss, correct, per_class = rest[:tasks], rest[tasks : 2 * tasks], rest[2 * tasks :]
        accuracy = [value / count for value in correct]
        record = EpochRecord(epoch, phase, total / count, sum(accuracy) / tasks, examples=int(count), task_accuracy=_by_task(self.tasks, accuracy))
        classes, start = [], 0
        for task in self.tasks:
            classes.append(sum(1 for value in per_class[start : start + task.num_classes] if value > 0))
            start += task.num_classes
        return record, [value / count for value in task_loss], classes


def _by_task(tasks: Sequence[TaskLoss], values: Sequence[float]) -> Optional[dict[str, float]]:
    """{task: value} with several tasks; None for one head."""
    return {task.name: value for task, value in zip(tasks, values)} if len(tasks) > 1 else None


def _epochs(context: _PhaseContext) -> None:
    """The remaining epochs of one phase, checkpointing after each; stops early when asked to."""
    run, phase, optimizer = context.run, context.phase, context.optimizer
    model, plan, state, accelerator = run.model, run.plan, run.state, run.accelerator
    (x, y), base_rates = context.train, [group["lr"] for group in optimizer.param_groups]
    batch_size = math.ceil(plan.batch_size / accelerator.world_size)  # this rank's share of the global batch
    guards = phase_guards(plan, phase, run.tasks)
    for epoch in range(state.epoch_in_phase, phase.epochs):
        global_epoch = len(state.history)
        torch.manual_seed(
            plan.seed * 100_003 + global_epoch + 1_000_003 * accelerator.rank
        )  # dropout: same draws after a resume, other draws per rank
        generator = torch.Generator().manual_seed(plan.seed * 100_003 + global_epoch)
        set_modes(model, context.backbone_trains, run.backbone_train_mode)
        tally = _EpochTally(run.tasks)
        batches = _batches(len(y), batch_size, generator)
        line = ProgressLine(f"torch epoch {global_epoch + 1} ({phase.name})", len(batches)) if accelerator.is_main_process else None
        for step, index in enumerate(batches):
            factor = learning_rate_factor(epoch + step / len(batches), 1 / len(batches), phase.epochs, plan.warmup_epochs, plan.lr_schedule)
            for group, rate in zip(optimizer.param_groups, base_rates):
                group["lr"] = rate * factor
            batch_y = y[index].to(accelerator.device)
            ids = [task_label_ids(batch_y, i) for i in range(len(run.tasks))]
            with accelerator.autocast():
                logits = task_logits(context.train_forward(_to(take(x, index), accelerator.device)), run.tasks)
                losses = [task.loss_fn(out, truth) for task, out, truth in zip(run.tasks, logits, ids)]
                loss = weighted_loss(losses, run.tasks)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            accelerator.step(optimizer)
            tally.add(loss, losses, logits, ids)
            if line is not None:
                line.update(step + 1)
        for group, rate in zip(optimizer.param_groups, base_rates):
            group["lr"] = rate  # the checkpoint keeps the phase's base rates
        accelerator.sync_buffers(model)
        record, task_loss, predicted_classes = tally.record(global_epoch, phase.name, len(y), accelerator)
        if context.validation is not None:
            model.eval()
            metrics = _evaluate(context.eval_forward, *context.validation, run.tasks, INFERENCE_BATCH, accelerator)
            # every rank evaluates the same data; the mean makes their early-stopping decisions identical by construction
            record.val_loss, *accuracy = (value / accelerator.world_size for value in accelerator.sum_across(metrics))
            record.val_accuracy, record.val_task_accuracy = sum(accuracy) / len(accuracy), _by_task(run.tasks, accuracy)
        if line is not None:
            line.close()
            record.seconds = line.elapsed()
        for guard, loss_of_task, classes in zip(guards, task_loss, predicted_classes):
            if guard is not None:  # every rank sees the same sums, so every rank stops alike
                guard.check(loss_of_task, classes)
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
