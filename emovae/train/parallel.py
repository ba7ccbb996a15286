"""Data-parallel training under torchrun: what changes when the loop runs on several processes.

One :class:`DataParallel` object answers every question the loop asks that depends on the world
size, so the loop reads the same in both modes and a world of one (no torchrun) is today's run exactly:

* **model**: wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`, which averages gradients
  across ranks during backward, so every rank takes the same optimiser step;
* **data**: a :class:`~torch.utils.data.DistributedSampler` over the training songs' chunks gives each
  rank its share of the epoch's shuffle; ``batch_size`` stays the *global* batch (each rank takes
  ``ceil(batch / world)``), so steps per epoch, learning rate and warm-up mean what they mean on one process;
* **randomness**: each rank draws its own reparameterisation noise; ``last.pt`` holds every rank's RNG
  states, so ``--resume`` with the same number of processes continues exactly;
* **files**: rank 0 alone writes checkpoints, history and figures; training sums are added over ranks.

Validation runs the whole validation set on every rank (identical weights, identical noise), so the
``best.pt`` decision is the same everywhere without another collective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from emovae.distributed import DistEnv, DistributedError, rank_device
from emovae.model.checkpoint import save_checkpoint
from emovae.model.vae import ConditionalVAE
from emovae.train.config import TrainConfig


class _DDP(DistributedDataParallel):
    """DDP whose attributes fall back to the wrapped model, so the training step calls it like the model.

    ``static_graph``: the loss uses parameters outside ``forward`` too (the emotion head, the prior's
    samples); DDP learns in the first step which parameters get gradients and reduces exactly those.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


@dataclass(frozen=True)
class DataParallel:
    """The world the training loop runs in (a world of one when no process group is initialised)."""

    env: DistEnv = DistEnv()

    @classmethod
    def current(cls) -> "DataParallel":
        """From the initialised process group; refuses torchrun without one (every rank would write the run)."""
        env = DistEnv.from_environ()
        if not dist.is_initialized():
            if env.active:
                raise DistributedError("started by torchrun (WORLD_SIZE > 1) but no process group is initialised; "
                                       "run the stage through `python -m pipeline.train`, which joins it")
            return cls()
        return cls(DistEnv(dist.get_rank(), dist.get_world_size(), env.local_rank, env.local_world_size))

    @property
    def active(self) -> bool:
        return self.env.active

    @property
    def is_main(self) -> bool:
        return self.env.is_main

    def device(self, device: torch.device) -> torch.device:
        return rank_device(device, self.env)

    def noise_seed(self, seed: int) -> int:
        """Rank 0 keeps the run's seed (a world of one is unchanged); other ranks draw independent noise."""
        return int(seed) if self.env.rank == 0 else int(np.random.SeedSequence([int(seed), self.env.rank]).generate_state(1)[0])

    def wrap(self, model: ConditionalVAE) -> nn.Module:
        if not self.active:
            return model
        device_ids = [model.norm_mean.device.index] if model.norm_mean.device.type == "cuda" else None
        return _DDP(model, device_ids=device_ids, static_graph=True)

    def step_config(self, config: TrainConfig) -> TrainConfig:
        """The per-rank share of the per-step settings that count chunks of the global batch."""
        if not self.active:
            return config
        return replace(config, batch_size=self.local_batch(config.batch_size),
                       emotion_samples=math.ceil(config.emotion_samples / self.env.world_size))

    def local_batch(self, batch_size: int) -> int:
        return math.ceil(int(batch_size) / self.env.world_size)

    def batches_per_epoch(self, n_train: int, batch_size: int) -> int:
        """Optimiser steps per epoch; the same on every rank (the sampler pads ranks to equal length)."""
        per_rank = math.ceil(n_train / self.env.world_size)
        return math.ceil(per_rank / self.local_batch(batch_size))

    def epoch_order(self, train_index: np.ndarray, seed: int, epoch: int) -> np.ndarray:
        """This rank's rows of the epoch, in order: a pure function of (seed, epoch, rank), so resume replays it."""
        if not self.active:
            return np.random.default_rng([int(seed), int(epoch)]).permutation(train_index)
        sampler = DistributedSampler(range(len(train_index)), num_replicas=self.env.world_size, rank=self.env.rank,
                                     shuffle=True, seed=int(seed), drop_last=False)
        sampler.set_epoch(int(epoch))
        return np.asarray(train_index)[np.fromiter(iter(sampler), dtype=np.int64)]

    def sum_over_ranks(self, sums: dict[str, float]) -> dict[str, float]:
        """Training sums of the whole epoch (each rank saw its share of the chunks)."""
        if not self.active:
            return sums
        values = torch.tensor([float(sums[key]) for key in sums], dtype=torch.float64)
        dist.all_reduce(values)
        return dict(zip(sums, values.tolist()))

    def rank_rng(self, noise: torch.Generator) -> dict[str, Any]:
        """Every rank's RNG states, gathered on all ranks (a collective: every rank must call it)."""
        mine = {"noise": noise.get_state(), "torch": torch.get_rng_state()}
        if not self.active:
            return {"world_size": 1, "ranks": [mine]}
        gathered: list[Any] = [None] * self.env.world_size
        dist.all_gather_object(gathered, mine)
        return {"world_size": self.env.world_size, "ranks": gathered}

    def restore_rng(self, saved: dict[str, Any] | None, noise: torch.Generator, path: Path) -> None:
        """Put this rank's saved RNG states back; a run resumed on another number of processes is refused."""
        if saved is None:  # written by one process before this module existed: the single-process states
            if self.active:
                raise DistributedError(f"{path}: saved by a single-process run; resume it without torchrun")
            return
        if int(saved["world_size"]) != self.env.world_size:
            raise DistributedError(
                f"{path}: saved by a run of {saved['world_size']} process(es); resume it with the same number "
                f"(torchrun --nproc_per_node/--nnodes) to continue exactly, not {self.env.world_size}")
        state = saved["ranks"][self.env.rank]
        noise.set_state(state["noise"].to(torch.uint8))
        torch.set_rng_state(state["torch"])

    def save(self, path: Path, model: ConditionalVAE, extras: Callable[[], dict[str, Any]]) -> None:
        """Checkpoint from rank 0; ``extras`` is evaluated on every rank (it may gather)."""
        data = extras()
        if self.is_main:
            save_checkpoint(path, model, data)


__all__ = ["DataParallel"]
