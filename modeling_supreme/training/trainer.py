"""The pre-training loop on accelerate: one process or many (DDP / FSDP), gradient accumulation, mixed precision,
warm-up + cosine learning rate, offline trackers, zero-shot validation AUROC with best-model selection, step
checkpoints that resume exactly, and the final model folder (optionally pushed to the Hub).

Vocabulary of the loop: a *batch* is what one process feeds one forward pass (`batch_size` ECGs); a *step* is an
optimiser update (`gradient_accumulation_steps` batches per process). Logging, validation and checkpoints count
steps.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from accelerate.utils import set_seed
from tqdm.auto import tqdm
from transformers import get_cosine_schedule_with_warmup

from ..label_scoring_supreme import LabelEmbeddingCache
from .accelerator_setup import build_optimizer, make_accelerator
from .checkpointing import (
    TrainerState,
    checkpoint_path,
    finalize_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_newest_checkpoint,
    partial_path,
    remove_old_checkpoints,
    resolve_resume_path,
    save_training_state,
)
from .data import (
    SupremeCollator,
    check_columns,
    load_splits,
    required_columns,
    resolve_vocabulary,
    training_loader,
)
from .device_inputs import normalized_on_device
from .export import SUMMARY_FILE, copy_model_folder, push_trained_folder, save_model_folder, write_model_card
from .failed_extractions import rows_with_reports, without_failed_extractions
from .label_inputs import TrainingLabelInputs
from .lead_consistency import LeadConsistency
from .lead_set_augmentation import LeadSetSampler, check_normalization, set_shares
from .model_factory import build_model, build_processor, count_parameters
from .options import RESUME_LATEST, TrainingOptions
from .run_lock import OutputDirLock
from .run_state import Stateful
from .timing import StepTimer, data_bound_message
from .tracking import METRICS_FILE, cut_metrics_back
from .validation import validation_record, validation_scores
from .validation_targets import ValidationSet, build_validation_set

logger = logging.getLogger(__name__)

BEST_FOLDER = "best"
LOGS_FOLDER = "logs"
# The run folder (`--output-dir`) holds checkpoints/, logs/, best/ and this model folder, which holds only what
# `from_pretrained` and the pipeline load (and its card): what is published never carries the run's checkpoints.
MODEL_FOLDER = "model"

# Called after every optimisation step (after its logging, validation and checkpoint) with the loop's state.
StepCallback = Callable[[TrainerState], None]


@dataclasses.dataclass
class TrainingResult:
    """What a run produced.

    Attributes:
        output_dir: the final model folder `<run folder>/model` (loadable by `pipeline("ecg-zero-shot",
            model=output_dir)`; no checkpoints or logs inside).
        run_dir: the run folder (`--output-dir`): checkpoints/, logs/, best/ and the model folder.
        global_step: optimisation steps done.
        total_steps: steps the run was planned for.
        world_size: number of processes.
        best_step / best_metric: the validation step and mean AUROC (x100) of the saved weights, None without
            validation.
        final_weights: "best" (weights of `best_step`) or "last".
        evaluations: every validation: {"step", "val/mean_auroc", "val/auroc/<label>"...}.
        hub_url: the Hub repository, when pushed.
    """

    output_dir: Path
    run_dir: Path
    global_step: int
    total_steps: int
    world_size: int
    best_step: Optional[int]
    best_metric: Optional[float]
    final_weights: str
    evaluations: list[dict[str, Any]]
    hub_url: Optional[str] = None


class SupremeTrainer:
    """Runs `TrainingOptions` under accelerate. Use `SupremeTrainer(options).train()` (or `train_accelerate.py`)."""

    def __init__(self, options: TrainingOptions, callbacks: Sequence[StepCallback] = ()) -> None:
        options.require_paths()
        self.options = options
        self.callbacks = list(callbacks)
        self.output_dir = Path(options.output_dir)
        self.state = TrainerState()
        self.accelerator = make_accelerator(options, self.output_dir, self.output_dir / LOGS_FOLDER)
        # Taken before anything is written to the folder; the main process writes it, so the main process holds it.
        # Asked of the accelerator, not of a PartialState made before it: that one can lock a CPU run into
        # non-distributed mode, where every rank is "main" and the second rank found the folder in use.
        self._lock = OutputDirLock(self.output_dir)
        if self.accelerator.is_main_process:
            self._lock.acquire()
        self._loss_sums: dict[str, torch.Tensor] = {}
        self._loss_batches = 0
        self.timer = StepTimer()

    # -- set-up ---------------------------------------------------------------------------------------------------

    def _prepare_data(self) -> None:
        options = self.options
        splits = load_splits(options.dataset)
        if options.train_split not in splits:
            raise ValueError(f"{options.dataset} has no split {options.train_split!r} (splits: {sorted(splits)})")
        where = f"{options.dataset} split {options.train_split!r}"
        train_split = rows_with_reports(splits[options.train_split], where)
        check_columns(train_split, required_columns(options.objective), where)
        if options.objective == "supreme":  # rows without known entities would train as all-negative
            train_split = without_failed_extractions(train_split, where)
        self.vocabulary = resolve_vocabulary(options, train_split)
        self.validation: Optional[ValidationSet] = build_validation_set(options, splits)
        global_batch = options.batch_size * self.accelerator.num_processes
        if len(train_split) < global_batch:
            raise ValueError(
                f"split {options.train_split!r} has {len(train_split)} ECGs, fewer than one batch of "
                f"{options.batch_size} "
                f"x {self.accelerator.num_processes} processes"
            )
        self.processor = build_processor(options)
        self.collator = SupremeCollator(
            self.processor, self.vocabulary, options.uncertain_value, with_reports=options.objective != "supreme",
            normalize_on_device=options.normalize_on_device,
        )
        self.ecg_collator = SupremeCollator(self.processor)
        self.train_loader = training_loader(train_split, self.collator, options)
        weights = tuple(options.lead_set_weights) if options.lead_set_weights is not None else None
        self.lead_sampler = LeadSetSampler(tuple(options.lead_sets), options.lead_dropout, options.seed, weights)
        self.lead_consistency = LeadConsistency(options.lead_consistency)
        check_normalization(self.lead_sampler, self.processor.feature_extractor.normalization)
        if self.lead_sampler.enabled:
            logger.info("Lead-set augmentation: share of training ECGs per lead set %s",
                        {name: round(share, 3) for name, share in set_shares(self.lead_sampler).items()})

    def _prepare_model(self) -> None:
        options = self.options
        set_seed(options.seed)
        model = build_model(options, self.vocabulary)
        trainable, total = count_parameters(model)
        logger.info("SupremeModel: %.2f M parameters, %.2f M trainable", total / 1e6, trainable / 1e6)
        self.model, self.optimizer, self.train_loader = self.accelerator.prepare(
            model, build_optimizer(model, options), self.train_loader
        )
        self.steps_per_epoch = math.ceil(len(self.train_loader) / options.gradient_accumulation_steps)
        self.total_steps = options.max_steps or math.ceil(options.num_epochs * self.steps_per_epoch)
        warmup = options.warmup_steps or round(options.warmup_ratio * self.total_steps)
        # Not handed to `prepare`: stepped once per optimisation step here, whatever the number of processes.
        self.scheduler = get_cosine_schedule_with_warmup(self.optimizer, warmup, self.total_steps)
        # Saved with every checkpoint as JSON/safetensors (`loop_state.json`); add an entry to save another object.
        # The label-text sampler needs none: its draws are seeded by (seed, epoch, batch), which the state holds.
        self.stateful: dict[str, Stateful] = {"scheduler": self.scheduler}
        if self.accelerator.scaler is not None:
            self.stateful["grad_scaler"] = self.accelerator.scaler
        # A frozen tower encodes each label text once (each sampled form once ever); a training tower runs in forward.
        self.label_cache = LabelEmbeddingCache(progress=False)
        config = self.accelerator.unwrap_model(self.model).config
        self.label_inputs = TrainingLabelInputs.for_run(
            self.processor, self.accelerator.device, self.label_cache, self.vocabulary, options.label_text,
            options.seed, config.label_texts,
        )

    def _start_or_resume(self) -> None:
        options = self.options
        if options.resume:
            path = resolve_resume_path(options.resume, self.output_dir, RESUME_LATEST)
            restore = (self.accelerator, self.model, self.optimizer, self.state, self.stateful)
            if options.resume == RESUME_LATEST:  # a broken newest checkpoint falls back to the one before
                path = load_newest_checkpoint(list_checkpoints(self.output_dir), *restore)
            else:
                load_checkpoint(path, *restore)
            logger.info("Resumed from %s at step %d (epoch %d, batch %d)", path, self.state.global_step,
                        self.state.epoch, self.state.batches_in_epoch)
            self._check_best_folder()
        elif list_checkpoints(self.output_dir):
            raise ValueError(
                f"{self.output_dir} holds checkpoints of an earlier run: pass --resume to continue it, "
                "or choose another --output-dir"
            )
        self._cut_metrics_back()
        hyperparameters = {**options.to_flat_dict(), "total_steps": self.total_steps,
                           "world_size": self.accelerator.num_processes}
        self.accelerator.init_trackers(options.run_name, config=hyperparameters)

    def _cut_metrics_back(self) -> None:
        """The metrics log ends where the run starts again: at the restored checkpoint's step (0 for a fresh run), so
        that no step is logged twice after an interruption."""
        if self.options.log_with == "jsonl" and self.accelerator.is_main_process:
            path = self.output_dir / LOGS_FOLDER / self.options.run_name / METRICS_FILE
            dropped = cut_metrics_back(path, self.state.global_step)
            if dropped:
                logger.info("%s: dropped %d records after step %d (logged again from here)", path, dropped,
                            self.state.global_step)

    def _check_best_folder(self) -> None:
        """After a resume, `best/` must hold the weights of the restored state's best step. A checkpoint follows every
        new best, so they differ only when a run died between the two saves: the best is then chosen again."""
        summary_path = self.output_dir / BEST_FOLDER / SUMMARY_FILE
        saved_step = json.loads(summary_path.read_text())["global_step"] if summary_path.is_file() else None
        if saved_step != self.state.best_step:
            logger.warning(
                "best/ holds step %s but the checkpoint's best is step %s: the best model is chosen again from here",
                saved_step, self.state.best_step,
            )
            self.state.best_metric = self.state.best_step = None

    # -- the loop -------------------------------------------------------------------------------------------------

    def train(self) -> TrainingResult:
        """Run (or continue) the pre-training; returns on every process once the final folder is written.

        Raises:
            OutputDirInUse: (when the trainer is made) another living run uses the same `--output-dir`.
        """
        try:
            return self._train()
        finally:
            self._lock.release()

    def _train(self) -> TrainingResult:
        self._prepare_data()
        self._prepare_model()
        self._start_or_resume()
        self.label_inputs.encode_forms(self.model)
        accelerator, state = self.accelerator, self.state
        logger.info(
            "Training %d steps (%d per epoch) on %d process(es), %d ECGs per step",
            self.total_steps,
            self.steps_per_epoch,
            accelerator.num_processes,
            self.options.batch_size * self.options.gradient_accumulation_steps * accelerator.num_processes,
        )
        progress = tqdm(total=self.total_steps, initial=state.global_step, desc="training", unit="step",
                        disable=not accelerator.is_main_process)
        self.model.train()
        self.timer.restart()
        while state.global_step < self.total_steps:
            for batch in self.timer.timed(self._epoch_batches()):
                if self._train_on_batch(batch):
                    self.timer.step_done()
                    progress.update(1)
                    self._after_step(progress)
                    self.timer.restart()  # validation and checkpoints are not part of the next step
                    if state.global_step >= self.total_steps:
                        break
            else:
                state.epoch += 1
                state.batches_in_epoch = 0
        progress.close()
        return self._finish()

    def _epoch_batches(self) -> Iterator[dict[str, torch.Tensor]]:
        """The rest of the current epoch: the prepared loader at `state.epoch`, its first consumed batches skipped."""
        self.train_loader.set_epoch(self.state.epoch)
        if self.state.batches_in_epoch:
            return iter(self.accelerator.skip_first_batches(self.train_loader, self.state.batches_in_epoch))
        return iter(self.train_loader)

    def _train_on_batch(self, batch: dict[str, torch.Tensor]) -> bool:
        """Forward, backward and (at accumulation boundaries) the optimiser step; True when a step was completed."""
        accelerator = self.accelerator
        batch = normalized_on_device(batch, self.processor.feature_extractor)
        # Drawn from (seed, epoch, batch, process) like the label texts, so that a resumed run drops the same leads.
        reduced = self.lead_sampler.apply(batch, self.state.epoch, self.state.batches_in_epoch,
                                          accelerator.process_index)
        with accelerator.accumulate(self.model):
            label_inputs = self.label_inputs.model_inputs(self.model, self.state.epoch, self.state.batches_in_epoch)
            # Before the training forward, so that restoring batch-norm statistics touches nothing autograd saved.
            full_view = self.lead_consistency.full_view(self.model, batch, reduced, label_inputs)
            outputs = self.model(**{**reduced, **label_inputs})
            consistency = self.lead_consistency.loss(outputs.logits, full_view)
            loss = outputs.loss if consistency is None else outputs.loss + self.lead_consistency.weight * consistency
            accelerator.backward(loss)
            if accelerator.sync_gradients and self.options.max_grad_norm > 0:
                accelerator.clip_grad_norm_(self.model.parameters(), self.options.max_grad_norm)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        self.state.batches_in_epoch += 1
        self._accumulate_losses(outputs, consistency)
        if not accelerator.sync_gradients:
            return False
        if not accelerator.optimizer_step_was_skipped:  # fp16 overflow: the scheduler waits for a real step
            self.scheduler.step()
        self.state.global_step += 1
        return True

    def _accumulate_losses(self, outputs: Any, lead_consistency: Optional[torch.Tensor] = None) -> None:
        """`loss` is the model's objective; the `--lead-consistency` term (unweighted) is logged beside it."""
        losses = {"loss": outputs.loss, "classification_loss": outputs.classification_loss,
                  "contrastive_loss": outputs.contrastive_loss, "lead_consistency_loss": lead_consistency}
        for name, value in losses.items():
            if value is not None:
                self._loss_sums[name] = self._loss_sums.get(name, 0) + value.detach().float()
        self._loss_batches += 1

    def _after_step(self, progress: tqdm) -> None:
        step = self.state.global_step
        final = step >= self.total_steps
        if step % self.options.logging_steps == 0 or final:
            self._log_training(progress)
        new_best = False
        if self.validation is not None and ((self.options.eval_steps and step % self.options.eval_steps == 0) or final):
            new_best = self._validate()
        # A checkpoint also follows every new best, so that the newest checkpoint always knows what best/ holds.
        if (self.options.save_steps and step % self.options.save_steps == 0) or final or new_best:
            self._save_checkpoint()
        for callback in self.callbacks:
            callback(self.state)

    def _log_training(self, progress: tqdm) -> None:
        """Mean losses over the batches since the last log, averaged over processes, and the learning rate."""
        if not self._loss_batches:
            return
        values: dict[str, float] = {}
        for name, total in self._loss_sums.items():
            values[f"train/{name}"] = self.accelerator.reduce(total / self._loss_batches, reduction="mean").item()
        values.update(self._step_times())
        values["train/learning_rate"] = self.scheduler.get_last_lr()[0]
        values["train/epoch"] = self.state.epoch + self.state.batches_in_epoch / max(len(self.train_loader), 1)
        self.accelerator.log(values, step=self.state.global_step)
        progress.set_postfix(loss=f"{values['train/loss']:.4f}", lr=f"{values['train/learning_rate']:.2e}")
        self._loss_sums, self._loss_batches = {}, 0

    def _step_times(self) -> dict[str, float]:
        """Mean data and step seconds per step since the last log, averaged over processes; warns when the loader is
        the bottleneck (`--data-time-warning`)."""
        means = self.timer.means()
        if not means:
            return {}
        local = torch.tensor([means["train/data_time"], means["train/step_time"]], device=self.accelerator.device)
        data_time, step_time = self.accelerator.reduce(local, reduction="mean").tolist()
        means = {"train/data_time": data_time, "train/step_time": step_time}
        message = data_bound_message(means, self.options.data_time_warning)
        if message and self.accelerator.is_main_process:
            logger.warning("step %d: %s", self.state.global_step, message)
        return means

    # -- validation -----------------------------------------------------------------------------------------------

    def validation_scores(self) -> np.ndarray:
        """Zero-shot probabilities (N, L) of the validation split, scored in shards by every process."""
        return validation_scores(self.accelerator, self.model, self.processor, self.validation, self.ecg_collator,
                                 self.options.eval_batch_size, self.label_cache)

    def _validate(self) -> bool:
        """Score the validation split, log it, and save `best/` when it improves; -> whether it improved."""
        validation, state = self.validation, self.state
        self.accelerator.wait_for_everyone()
        record = validation_record(state.global_step, validation, self.validation_scores())
        metric = record["val/mean_auroc"]
        state.evaluations.append(record)
        self.accelerator.log({key: value for key, value in record.items() if key != "step" and value is not None},
                             step=state.global_step)
        logger.info("step %d: zero-shot validation mean AUROC %.2f", state.global_step, metric)
        if (
            self.options.select_best
            and math.isfinite(metric)
            and (state.best_metric is None or metric > state.best_metric)
        ):
            state.best_metric, state.best_step = metric, state.global_step
            self._save_model(self.output_dir / BEST_FOLDER)
            return True
        return False

    # -- saving ---------------------------------------------------------------------------------------------------

    def _save_checkpoint(self) -> None:
        final = checkpoint_path(self.output_dir, self.state.global_step)
        save_training_state(partial_path(final), self.accelerator, self.model, self.optimizer, self.stateful)
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            finalize_checkpoint(final, self.state)
            remove_old_checkpoints(self.output_dir, self.options.save_total_limit)
        self.accelerator.wait_for_everyone()

    def _summary(self, final_weights: str) -> dict[str, Any]:
        state = self.state
        validation = None
        if state.best_step is not None and final_weights == "best":
            validation = {"step": state.best_step, "mean_auroc": state.best_metric}
        elif state.evaluations:
            validation = {"step": state.evaluations[-1]["step"], "mean_auroc": state.evaluations[-1]["val/mean_auroc"]}
        return {
            "options": dataclasses.asdict(self.options),
            "global_step": state.global_step,
            "total_steps": self.total_steps,
            "world_size": self.accelerator.num_processes,
            "mixed_precision": self.accelerator.mixed_precision,
            "final_weights": final_weights,
            "best_step": state.best_step,
            "best_metric": state.best_metric,
            "validation": validation,
            "validation_labels": (
                dict(zip(self.validation.label_names, self.validation.label_texts)) if self.validation else None
            ),
            "evaluations": state.evaluations,
            "num_labels": len(self.vocabulary) if self.vocabulary else 0,
        }

    def _save_model(self, folder: Path, final_weights: str = "last") -> None:
        """Every process takes part (sharded weights are gathered); the main process writes."""
        state_dict = self.accelerator.get_state_dict(self.model)
        if self.accelerator.is_main_process:
            save_model_folder(folder, self.accelerator.unwrap_model(self.model), self.processor, self.vocabulary,
                              state_dict, self._summary(final_weights))
        self.accelerator.wait_for_everyone()

    def _finish(self) -> TrainingResult:
        accelerator, state = self.accelerator, self.state
        use_best = self.options.select_best and state.best_step is not None
        final_weights = "best" if use_best else "last"
        model_dir = self.output_dir / MODEL_FOLDER
        if use_best:
            if accelerator.is_main_process:
                copy_model_folder(self.output_dir / BEST_FOLDER, model_dir)
        else:
            self._save_model(model_dir)
        hub_url = None
        if accelerator.is_main_process:
            summary = self._summary(final_weights)
            (model_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
            config = self.accelerator.unwrap_model(self.model).config
            write_model_card(model_dir, summary, config, self.options.push_to_hub)
            if self.options.push_to_hub:
                hub_url = push_trained_folder(model_dir, self.options.push_to_hub, private=self.options.hub_private)
        accelerator.wait_for_everyone()
        accelerator.end_training()
        logger.info("Model folder: %s (%s weights)", model_dir, final_weights)
        return TrainingResult(
            output_dir=model_dir,
            run_dir=self.output_dir,
            global_step=state.global_step,
            total_steps=self.total_steps,
            world_size=accelerator.num_processes,
            best_step=state.best_step if use_best else None,
            best_metric=state.best_metric if use_best else None,
            final_weights=final_weights,
            evaluations=list(state.evaluations),
            hub_url=hub_url,
        )


def run_training(options: TrainingOptions, callbacks: Sequence[StepCallback] = ()) -> TrainingResult:
    """Pre-train a SuPreME model as `options` say; see `SupremeTrainer`."""
    return SupremeTrainer(options, callbacks).train()


__all__ = [
    "BEST_FOLDER",
    "LOGS_FOLDER",
    "MODEL_FOLDER",
    "StepCallback",
    "SupremeTrainer",
    "TrainingResult",
    "run_training",
]
