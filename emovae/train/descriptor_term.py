"""The score decoder's reading of the VAE's own samples, as a training term.

The model path plays what the score decoder reads off a *sampled* latent, and the decoder is fitted on
*real* latents. Whether the VAE's samples carry what the decoder reads was left to chance: measured by
sample fidelity (:mod:`emovae.eval.fidelity`), the register, the valence cue that survives the
random-init codec, came through at r 0.42–0.87 depending on the training seed, and the model path's
valence followed it.

This term closes that gap the way the emotion head closes it for the condition: the decoder is fitted
first, on the training songs' real latents and their audio's descriptors (the same fit the run saves at
its end), then frozen, and each step the VAE's samples drawn at a training chunk's condition are read
by it and scored against that chunk's measured descriptors (mean squared error in standardised units,
window by window). The decoder is frozen, so the VAE cannot win by changing the reader; it can only put
into its samples what real chunks of that emotion sound like. A sample is not the chunk, so the term
pulls towards what chunks of that emotion share, like any feature-matching loss.

Nothing of the judge is involved: the targets are measured from audio (no labels), the emotion
estimator never sees the term, and the ablations (noise latents, shuffled conditions, an untrained
model) are untouched by it.

Off by default (``TrainConfig.descriptor_weight`` 0): over three training seeds it lifted the SoundFont
engine's model-path valence (branch ``engine-v3-wide-register``, 0.854 -> 0.931) but cost this
additive engine's (0.938 -> 0.880), although the samples carried every descriptor measured better; the
README's *The descriptor term* has the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from emovae.model.score import ScoreDecoder


@dataclass
class DescriptorTerm:
    """``weight`` x MSE(decoder reading of samples, the sampled chunks' descriptors), standardised."""

    read: Callable[[torch.Tensor], torch.Tensor]  # raw latents (B, C, T) -> (B, n_windows, D)
    targets: torch.Tensor  # (n_chunks, n_windows, D) per dataset row, standardised
    weight: float

    def __call__(self, model, samples_normalized: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
        """Score ``samples_normalized`` (the VAE's samples, drawn at the conditions of dataset ``rows``)."""
        reading = self.read(model.denormalize(samples_normalized))
        wanted = self.targets[torch.as_tensor(np.asarray(rows), device=self.targets.device)]
        n = min(reading.shape[1], wanted.shape[1])
        return float(self.weight) * torch.nn.functional.mse_loss(reading[:, :n], wanted[:, :n])


def build_descriptor_term(decoder: ScoreDecoder, descriptors: Sequence[np.ndarray] | np.ndarray, weight: float,
                          device: torch.device | str = "cpu") -> DescriptorTerm:
    """The term for a fitted ``decoder`` and each dataset row's measured ``descriptors`` ``(n_windows, D)``."""
    n_windows = min(len(d) for d in descriptors)
    targets = np.stack([decoder.standardise(np.asarray(d)[:n_windows]) for d in descriptors])
    return DescriptorTerm(decoder.standardised_reader(device), torch.as_tensor(targets, dtype=torch.float32, device=device),
                          float(weight))
