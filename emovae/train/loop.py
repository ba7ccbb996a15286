"""The training stage: split, normalise, optimise, validate, checkpoint, and resume exactly.

Exact resume is by construction rather than by luck: the only randomness is (a) the initial weights,
drawn right after ``torch.manual_seed(seed)``, (b) the epoch's shuffle, a pure function of
``(seed, epoch)``, and (c) the reparameterisation noise, drawn from one dedicated ``torch.Generator``
whose state goes into ``last.pt``; the KL warm-up is a pure function of the step.
A run stopped mid-epoch records how many batches of that epoch are done and skips them on resume.
The weights validated and saved as ``best.pt`` are a moving average of the trained ones
(:mod:`emovae.train.ema`; ``last.pt`` keeps both, so a resume continues the average too).
A run resumes only on the data it was trained on: ``last.pt`` records the identity (size, mtime, SHA-256)
of the latents and labels files, and a resume on others is refused (:class:`DatasetChangedError`).
Under torchrun the same loop trains data-parallel; everything that depends on the world size is in
:mod:`emovae.train.parallel` (a world of one is exactly the single-process run).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch.optim.swa_utils import AveragedModel

from emovae.device import resolve_device
from emovae.io import file_identity, same_file, write_csv
from emovae.model.checkpoint import check_codec_compatible, read_checkpoint
from emovae.model.config import VAEConfig
from emovae.model.loss import beta_schedule, vae_loss
from emovae.model.vae import ConditionalVAE
from emovae.train.callbacks import Callback, dispatch
from emovae.train.chunk_stats import fit_chunk_stats
from emovae.train.config import TrainConfig
from emovae.train.descriptor_term import DescriptorTerm, build_descriptor_term
from emovae.train.ema import averaged_model, shipped
from emovae.train.dataset import (
    DatasetError,
    LatentDataset,
    Split,
    channel_stats,
    iter_blocks,
    load_latent_dataset,
    load_split,
    save_split,
    split_by_song,
)
from emovae.train.parallel import DataParallel
from emovae.progress import Progress

LAST = "last.pt"
BEST = "best.pt"
HISTORY = "history.csv"
SPLIT = "split.json"
# Settings that change the optimisation trajectory: a resumed run must keep them to be exact.
TRAJECTORY_KEYS = ("chunk_seconds", "model", "batch_size", "lr", "weight_decay", "grad_clip", "beta",
                   "kl_warmup", "free_bits", "prior_fit", "cond_dropout", "emotion_weight", "emotion_samples", "descriptor_weight",
                   "ema_decay", "val_fraction", "test_fraction", "seed")
# What a setting was before it existed: a run saved without it trained that way and resumes that way.
LEGACY = {"descriptor_weight": 0.0, "ema_decay": 0.0}


class ResumeError(ValueError):
    """``--resume`` was asked for but the run in ``--out`` cannot be continued as requested."""


class DatasetChangedError(ResumeError):
    """The latents or labels differ from those the run in ``--out`` was trained on."""


@dataclass
class LoopState:
    """Where the run is; saved in ``last.pt`` so an interrupted run continues where it stopped."""

    epoch: int = 0  # 0-based index of the epoch in progress (== epochs completed at an epoch boundary)
    batch: int = 0  # batches of that epoch already done
    global_step: int = 0
    sums: dict[str, float] = field(default_factory=lambda: {"objective": 0.0, "mse": 0.0, "kl": 0.0, "n": 0.0})
    best_val: float = math.inf
    best_epoch: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    chunk_level: dict[str, float] = field(default_factory=dict)  # the chunk level's fit summary (metrics.json)


@dataclass
class TrainResult:
    out_dir: Path
    epochs_completed: int
    global_step: int
    stopped: bool  # True when stop_event ended the run early (resume it with --resume)
    best_epoch: int | None
    history: pd.DataFrame
    metrics: dict[str, Any]  # final evaluation (empty when stopped)
    last_checkpoint: Path
    best_checkpoint: Path | None


def train(
    config: TrainConfig,
    callbacks: Sequence[Any] = (),
    stop_event: threading.Event | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Train (or with ``config.resume`` continue) a conditional VAE; write checkpoints, history and figures.

    ``callbacks`` get ``on_step(step, metrics)`` / ``on_epoch_end(epoch, metrics)``; setting
    ``stop_event`` stops after the current step with ``last.pt`` saved. ``progress(done, total, message)``
    is the generic stage hook (e.g. for ``gr.Progress``).
    """
    if config.num_threads:
        torch.set_num_threads(int(config.num_threads))
    parallel = DataParallel.current()
    device = parallel.device(resolve_device(config.device))
    out = config.out_dir
    dataset = load_latent_dataset(config.latents, config.chunk_seconds)
    model_config = _model_config(config, dataset)
    config = config.with_overrides(model=model_config)  # saved and compared as actually built
    callbacks = list(callbacks) + ([_ProgressCallback(progress)] if progress else [])
    callbacks = callbacks if parallel.is_main else []  # one rank reports

    torch.manual_seed(config.seed)  # the initial weights are part of what the seed fixes
    model = ConditionalVAE(model_config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    noise = torch.Generator(device=device)
    noise.manual_seed(parallel.noise_seed(config.seed))
    if config.resume:
        split, state, fingerprint, ema = _restore(out, config, dataset, model, optimizer, noise, parallel)
    else:
        fingerprint = dataset_fingerprint(dataset)
        split, state = _start(out, config, dataset, model, parallel.is_main)
        ema = averaged_model(model, config.ema_decay)  # after _start: it copies the fitted normalisation

    descriptor_term = _descriptor_term(out, config, dataset, split, device, parallel, progress)
    n_batches = parallel.batches_per_epoch(len(split.train_index), config.batch_size)
    step_model, step_config = parallel.wrap(model), parallel.step_config(config)
    warmup_steps = int(round(config.kl_warmup * n_batches))
    dispatch(callbacks, "on_train_begin", {
        "total_steps": config.epochs * n_batches, "start_step": state.global_step, "epochs": config.epochs,
        "n_train": len(split.train_index), "n_val": len(split.val_index), "device": str(device),
    })
    extras = lambda: _extras(config, dataset, state, optimizer, noise, parallel, fingerprint, ema)  # noqa: E731 (late-bound snapshot)
    stopped = False
    model.train()
    while state.epoch < config.epochs and not stopped:
        started = time.perf_counter()
        order = parallel.epoch_order(split.train_index, config.seed, state.epoch)
        beta_now = beta_schedule(state.global_step, config.beta, warmup_steps)
        for batch_index in range(state.batch, n_batches):
            rows = order[batch_index * step_config.batch_size : (batch_index + 1) * step_config.batch_size]
            beta_now = beta_schedule(state.global_step, config.beta, warmup_steps)
            step_metrics = _train_step(step_model, optimizer, dataset, rows, beta_now, step_config, noise, device,
                                       descriptor_term)
            if ema is not None:
                ema.update_parameters(model)
            state.global_step += 1
            state.batch = batch_index + 1
            for key in ("objective", "mse", "kl"):
                state.sums[key] += step_metrics[key] * len(rows)
            state.sums["n"] += len(rows)
            dispatch(callbacks, "on_step", state.global_step,
                     {"epoch": state.epoch + 1, **step_metrics, "beta": beta_now, "lr": config.lr})
            if stop_event is not None and stop_event.is_set():
                stopped = True
                break
        if stopped and state.batch < n_batches:
            parallel.save(out / LAST, model, extras)
            break
        state.sums = parallel.sum_over_ranks(state.sums)
        row = _finish_epoch(shipped(model, ema), dataset, split, config, state, beta_now, device, time.perf_counter() - started)
        if parallel.is_main:
            write_csv(out / HISTORY, pd.DataFrame(state.history))
        if row["val_total"] < state.best_val:
            state.best_val, state.best_epoch = row["val_total"], state.epoch
            parallel.save(out / BEST, shipped(model, ema), lambda: _best_extras(config, dataset, state, fingerprint))
        parallel.save(out / LAST, model, extras)
        dispatch(callbacks, "on_epoch_end", state.epoch, row)
        stopped = stopped or (stop_event is not None and stop_event.is_set())

    history = pd.DataFrame(state.history)
    metrics: dict[str, Any] = {}
    if not stopped and parallel.is_main:
        from emovae.train.artifacts import write_final_artifacts  # heavy (matplotlib, sklearn): only at the end

        metrics = write_final_artifacts(out, config, dataset, split, history, device, chunk_level=state.chunk_level,
                                        progress=lambda done, total, message: dispatch(
                                            callbacks, "on_finishing", done, total, message))
    result = TrainResult(
        out_dir=out, epochs_completed=state.epoch, global_step=state.global_step, stopped=stopped,
        best_epoch=state.best_epoch, history=history, metrics=metrics, last_checkpoint=out / LAST,
        best_checkpoint=(out / BEST) if (out / BEST).exists() else None,
    )
    dispatch(callbacks, "on_train_end", result)
    return result


# --- setup -------------------------------------------------------------------------------------------------
def _model_config(config: TrainConfig, dataset: LatentDataset) -> VAEConfig:
    """The architecture from the config, with the input width taken from the data."""
    return replace(config.model, in_channels=int(dataset.latents.shape[1]))


def _start(out: Path, config: TrainConfig, dataset: LatentDataset, model: ConditionalVAE,
           write: bool = True) -> tuple[Split, LoopState]:
    if (out / LAST).exists():
        raise ResumeError(
            f"{out / LAST}: this folder already holds a training run; pass --resume to continue it, "
            "or choose another --out (nothing was overwritten)"
        )
    split = split_by_song(dataset.labels, config.val_fraction, config.seed, config.test_fraction)
    if write:  # rank 0 of a data-parallel run; the others compute the same split
        save_split(out / SPLIT, split, dataset.labels)
    mean, std = channel_stats(dataset.latents, split.train_index)
    model.set_normalization(torch.from_numpy(mean), torch.from_numpy(std))
    state = LoopState()
    if model.chunk_stats is not None:  # closed form, training songs only; the weights then train around it
        state.chunk_level = fit_chunk_stats(model, dataset, split.train_index)
    return split, state


def _restore(out: Path, config: TrainConfig, dataset: LatentDataset, model: ConditionalVAE,
             optimizer: torch.optim.Optimizer, noise: torch.Generator,
             parallel: DataParallel) -> tuple[Split, LoopState, dict[str, Any], AveragedModel | None]:
    path = out / LAST
    if not path.exists():
        raise ResumeError(f"{path}: nothing to resume (no last.pt); run without --resume to start training")
    payload = read_checkpoint(path)
    check_codec_compatible(payload.get("codec"), dataset.codec, str(path))
    fingerprint, change = _dataset_change(path, payload.get("dataset"), dataset)
    if change:
        raise DatasetChangedError(
            f"{path}: this run was trained on other data: {change}. Resuming would continue (and ship) a model of "
            f"the old data; start a new run instead: delete or move {out} (or choose another --out), or restore the "
            "latents and labels it was trained on")
    saved = dict(payload.get("train_config", {}))
    if isinstance(saved.get("model"), dict):  # keys added since it was written mean what they meant then
        saved["model"] = VAEConfig.from_dict(saved["model"], source=str(path), saved=True).to_dict()
    current = config.to_dict()
    current["model"] = _model_config(config, dataset).to_dict()
    changed = [k for k in TRAJECTORY_KEYS if saved.get(k, LEGACY.get(k)) != current.get(k)]
    if changed:
        detail = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in changed)
        raise ResumeError(f"{path}: cannot resume exactly with changed settings ({detail}); "
                          "drop those flags, or start a new run in another --out")
    model.load_state_dict(payload["model_state"])
    ema = averaged_model(model, config.ema_decay)
    if ema is not None:
        ema.load_state_dict(payload["ema_state"])
    optimizer.load_state_dict(payload["optimizer"])
    noise.set_state(payload["rng"]["noise"].to(torch.uint8))
    torch.set_rng_state(payload["rng"]["torch"])
    parallel.restore_rng(payload.get("rank_rng"), noise, path)
    state = LoopState(**payload["train_state"])
    split = load_split(out / SPLIT, dataset.labels)
    return split, state, fingerprint, ema


def dataset_fingerprint(dataset: LatentDataset, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """The identity of the latents and labels files a run trains on (saved in its checkpoints)."""
    known = known or {}
    return {"latents": file_identity(dataset.latents_file, known.get("latents")),
            "labels": file_identity(dataset.labels_file, known.get("labels"))}


def _dataset_change(path: Path, saved: dict[str, Any] | None, dataset: LatentDataset) -> tuple[dict[str, Any], str | None]:
    """This dataset's fingerprint, and what differs from the one ``path`` was trained on (None: nothing).

    A checkpoint written before fingerprints were saved is trusted only if both files are older than the
    run's ``split.json`` (written when the run started): then they cannot have been rewritten since.
    """
    current = dataset_fingerprint(dataset, saved)
    files = {"latents": dataset.latents_file, "labels": dataset.labels_file}
    if saved is None:
        split = path.parent / SPLIT
        started = split.stat().st_mtime_ns if split.is_file() else None
        newer = [str(files[k]) for k in files if started is None or current[k]["mtime_ns"] > started]
        if newer:
            return current, (f"it predates the dataset record in checkpoints, and {' and '.join(newer)} "
                             f"{'was' if len(newer) == 1 else 'were'} written after the run started ({SPLIT})")
        return current, None
    changed = [f"{files[k]} ({saved[k]['size']} -> {current[k]['size']} bytes, sha256 {saved[k]['sha256'][:12]} -> "
               f"{current[k]['sha256'][:12]})" for k in files if not same_file(current[k], saved.get(k))]
    return current, ("; ".join(changed) + " changed since it was trained") if changed else None


def resume_dataset_change(out: str | Path, latents: str | Path, chunk_seconds: int) -> str | None:
    """Why ``<out>/last.pt`` must not be resumed on the latents in ``latents`` (None: same data, or no run).

    For a caller that owns ``out`` (the workflow): it can start afresh instead of failing the resume.
    """
    path = Path(out) / LAST
    if not path.is_file():
        return None
    dataset = load_latent_dataset(latents, chunk_seconds)
    return _dataset_change(path, read_checkpoint(path).get("dataset"), dataset)[1]


def _extras(config: TrainConfig, dataset: LatentDataset, state: LoopState, optimizer: torch.optim.Optimizer,
            noise: torch.Generator, parallel: DataParallel, fingerprint: dict[str, Any],
            ema: AveragedModel | None) -> dict[str, Any]:
    return {
        **_best_extras(config, dataset, state, fingerprint),
        **({"ema_state": ema.state_dict()} if ema is not None else {}),  # last.pt's model_state is the trained weights
        "optimizer": optimizer.state_dict(),
        "train_state": asdict(state),
        "rng": {"noise": noise.get_state(), "torch": torch.get_rng_state()},
        "rank_rng": parallel.rank_rng(noise),  # every rank's states (a collective under torchrun)
    }


def _best_extras(config: TrainConfig, dataset: LatentDataset, state: LoopState,
                 fingerprint: dict[str, Any]) -> dict[str, Any]:
    return {
        "codec": dataset.codec,
        "dataset": fingerprint,  # what a resume compares (_dataset_change)
        "chunk_seconds": config.chunk_seconds,
        "epoch": len(state.history),  # completed epochs
        "metrics": dict(state.history[-1]) if state.history else {},
        "train_config": config.to_dict(),
        "split_file": SPLIT,
    }


# --- steps ---------------------------------------------------------------------------------------------
def _train_step(model: ConditionalVAE, optimizer: torch.optim.Optimizer, dataset: LatentDataset,
                rows: np.ndarray, beta_now: float, config: TrainConfig, noise: torch.Generator,
                device: torch.device, descriptor_term: DescriptorTerm | None = None) -> dict[str, float]:
    rows = np.sort(rows)  # the order dataset.batch reads them in: the samples' conditions and the term's targets follow it
    x, cond = dataset.batch(rows)
    null_mask = None
    if config.cond_dropout > 0 and model.config.unconditional:  # drawn from the saved generator: exact resume
        null_mask = torch.rand(len(rows), generator=noise, device=device) < config.cond_dropout
    cond = cond.to(device)
    output = model(x.to(device, non_blocking=True), cond, generator=noise, null_mask=null_mask)
    terms = vae_loss(output, beta_now, config.free_bits, config.prior_fit)
    total = terms.total
    emotion = model.emotion_head is not None and config.emotion_weight > 0
    if emotion or descriptor_term is not None:
        n_samples = min(int(config.emotion_samples), len(rows))  # the batch is shuffled: any rows will do
        samples = model.sample_normalized(cond[:n_samples], x.shape[-1], generator=noise)
        if emotion:
            total = total + _emotion_terms(model, output.normalized, cond, config.emotion_weight, samples)
        if descriptor_term is not None:
            descriptor = descriptor_term(model, samples, rows[:n_samples])
            total = total + descriptor
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    metrics = {"objective": terms.total.item(), "mse": terms.mse.item(), "kl": terms.kl.item()}
    if descriptor_term is not None:
        metrics["descriptor"] = descriptor.item()
    return metrics


def _emotion_terms(model: ConditionalVAE, target: torch.Tensor, cond: torch.Tensor, weight: float,
                   samples: torch.Tensor) -> torch.Tensor:
    """Head fitted on the real chunks + ``weight`` x (the frozen head reads ``cond`` back from the VAE's samples).

    The head's weights are detached in the second term, so the VAE cannot win by teaching the head to
    accept anything: only the VAE's samples move towards what real chunks of that emotion look like.
    ``samples`` are the VAE's samples at the first ``len(samples)`` conditions. Sampling costs a decoder
    pass, so only ``emotion_samples`` conditions are sampled (measured on 2 cores, batch 128: a whole batch
    made a training step 2.0x as slow as without the head, 32 samples 1.26x; on the demo, 4 samples a step
    instead of 16 cost valence rho 0.94 -> 0.85, hence a count, not a fraction); the descriptor term reads
    the same samples.
    """
    from torch.func import functional_call

    head = model.emotion_head
    fit = torch.nn.functional.mse_loss(head(target.detach()), cond)
    wanted = cond[: len(samples)]
    frozen = {name: p.detach() for name, p in head.named_parameters()}
    consistency = torch.nn.functional.mse_loss(functional_call(head, frozen, (samples,)), wanted)
    return fit + weight * consistency


def _descriptor_term(out: Path, config: TrainConfig, dataset: LatentDataset, split: Split, device: torch.device,
                     parallel: DataParallel, progress: Progress | None) -> DescriptorTerm | None:
    """The score decoder's term on the VAE's samples (:mod:`emovae.train.descriptor_term`), or None when off.

    Needs the chunks' audio (``config.chunks``, which the config insists on when the weight is set), as
    the score decoder itself does. The chunks are described once and cached in ``out`` (the cache the end
    of the run reads). Under data parallelism every rank describes what the cache lacks: the cache is written
    atomically, so a cold cache costs duplicated work once, never a torn file, and no rank waits on another.
    """
    if config.descriptor_weight <= 0:
        return None
    from emovae.train.score import chunk_descriptors, descriptors_cache, fit_score_decoder

    descriptors = chunk_descriptors(dataset.labels, config.chunks, dataset.chunk_seconds,
                                    descriptors_cache(out, dataset.chunk_seconds), parallel.is_main, progress)
    decoder, _ = fit_score_decoder(dataset, split, descriptors)
    return build_descriptor_term(decoder, descriptors, config.descriptor_weight, device)


@torch.no_grad()
def validate(model: ConditionalVAE, dataset: LatentDataset, index: np.ndarray, batch_size: int,
             device: torch.device, seed: int) -> dict[str, float]:
    """Mean MSE and KL over ``index`` with fixed noise, so epochs are compared on the same draw.

    The MSE is the objective's: with a chunk level, per value of the *texture* (each chunk standardised
    by its own statistics). The headline ``val_mse`` of ``metrics.json`` (:mod:`emovae.train.evaluate`)
    is the whole chunk's, in normalised units, through the posterior mean.
    """
    was_training = model.training
    model.eval()
    noise = torch.Generator(device=device)
    noise.manual_seed(int(seed) + 7919)
    sums = {"mse": 0.0, "kl": 0.0}
    for rows in iter_blocks(index, batch_size):
        x, cond = dataset.batch(rows)
        terms = vae_loss(model(x.to(device), cond.to(device), generator=noise), 0.0)
        sums["mse"] += terms.mse.item() * len(rows)
        sums["kl"] += terms.kl.item() * len(rows)
    model.train(was_training)
    return {key: value / max(len(index), 1) for key, value in sums.items()}


def _finish_epoch(model: ConditionalVAE, dataset: LatentDataset, split: Split, config: TrainConfig,
                  state: LoopState, beta_now: float, device: torch.device, seconds: float) -> dict[str, Any]:
    """Validate, append the history row, and move the state to the next epoch boundary."""
    n = max(state.sums["n"], 1.0)
    train_mse, train_kl = state.sums["mse"] / n, state.sums["kl"] / n
    val = validate(model, dataset, split.val_index, config.batch_size, device, config.seed)
    row = {
        "epoch": state.epoch + 1,
        "step": state.global_step,
        "beta": beta_now,
        "train_objective": state.sums["objective"] / n,
        # total = mse + beta * KL at the target beta: comparable across epochs despite the warm-up.
        "train_total": train_mse + config.beta * train_kl,
        "train_mse": train_mse,
        "train_kl": train_kl,
        "val_total": val["mse"] + config.beta * val["kl"],
        "val_mse": val["mse"],
        "val_kl": val["kl"],
        "seconds": seconds,
    }
    state.history.append(row)
    state.epoch += 1
    state.batch = 0
    state.sums = {"objective": 0.0, "mse": 0.0, "kl": 0.0, "n": 0.0}
    return row


class _ProgressCallback(Callback):
    """Adapts the stage-wide ``progress(done, total, message)`` hook to training steps."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.total = 0

    def on_train_begin(self, info: dict[str, Any]) -> None:
        self.total = int(info["total_steps"])

    def on_step(self, step: int, metrics: dict[str, Any]) -> None:
        self.progress(step, self.total, f"epoch {metrics['epoch']}: mse {metrics['mse']:.4f}")


def resume_config(out: str | Path) -> TrainConfig:
    """The configuration saved in ``<out>/last.pt``: the base for ``--resume`` (flags may still override)."""
    path = Path(out) / LAST
    if not path.exists():
        raise ResumeError(f"{path}: nothing to resume (no last.pt); run without --resume to start training")
    saved = read_checkpoint(path).get("train_config")
    if not saved:
        raise ResumeError(f"{path}: holds no training config; it was not written by this training stage")
    return TrainConfig.from_dict({**LEGACY, **saved, "resume": True}, source=str(path), saved=True)


__all__ = ["DatasetChangedError", "DatasetError", "LoopState", "ResumeError", "TrainResult", "resume_config", "resume_dataset_change", "train", "validate"]
