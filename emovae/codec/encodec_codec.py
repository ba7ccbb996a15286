"""The EnCodec 24 kHz codec as the project uses it: audio <-> 128-channel latents at 75 frames/s.

Wraps ``encodec.EncodecModel.encodec_model_24khz`` (the real package, optimised for inference by
:mod:`emovae.codec.inference`) and gives it an *identity*: a small dict naming the weights, latent
kind and bandwidth. Every artefact made with a codec records that identity, and
:func:`emovae.codec.identity.ensure_same_codec` refuses to mix artefacts made with different ones (latents from random
weights are meaningless to a VAE trained on pretrained ones, and vice versa).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from encodec import EncodecModel

from emovae.audio import SAMPLE_RATE
from emovae.codec.identity import CHANNELS, FRAME_RATE, HOP_LENGTH
from emovae.codec.inference import optimise_for_inference
from emovae.codec.weights import WeightsSource, load_state_dict, resolve_weights, state_dict_hash
from emovae.device import resolve_device
from emovae.distributed import cores_per_process

LatentKind = Literal["continuous", "quantized"]
LATENT_KINDS = ("continuous", "quantized")
Precision = Literal["fp32", "bf16"]
PRECISIONS = ("fp32", "bf16")
BANDWIDTHS = (1.5, 3.0, 6.0, 12.0, 24.0)
# Measured on 2 CPU cores (benchmarks/bench_codec.py): small batches keep the 24 kHz activations
# in cache and beat large ones (quiet machine, optimised model: batch 1 25.6x, batch 2 17.7x real time);
# on a GPU larger batches win.
DEFAULT_CPU_BATCH = 1
DEFAULT_GPU_BATCH = 32


def configure_threads(threads: int | None = None) -> int:
    """Use every core this process may run on (containers often allow fewer than the host has), shared
    evenly with the other torchrun ranks on this machine.

    Called by the encoding stage, not by :func:`load_codec`: the thread count is process-wide, and an
    app that also samples a VAE keeps its own setting (see ``emovae.generate.threads``).
    Note: oneDNN takes a sequential path at one thread, whose float rounding differs from every
    multi-thread count (measured: max |diff| 2.5e-7; 2, 3 and 4 threads agree bit for bit).
    """
    if threads is None:
        threads = cores_per_process()
    threads = max(1, int(threads))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


@dataclass
class Codec:
    """An EnCodec model ready for inference, plus the identity its outputs are tagged with."""

    model: EncodecModel = field(repr=False)
    identity: dict[str, Any]
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    batch_size: int = DEFAULT_CPU_BATCH
    precision: Precision = "fp32"  # bf16: encoder under autocast (latents still float32; see _encode_batch)

    @property
    def codec_id(self) -> str:
        return self.identity["codec_id"]

    @property
    def latents_identity(self) -> dict[str, Any]:
        """The identity an encode run writes beside its latents: with the precision when it is not fp32, so
        that a resumed run or a consolidation cannot mix bf16 and fp32 latents (see ``ensure_same_precision``)."""
        return self.identity if self.precision == "fp32" else {**self.identity, "precision": self.precision}

    @property
    def latent_kind(self) -> LatentKind:
        return self.identity["latent_kind"]

    @staticmethod
    def frames_for(n_samples: int) -> int:
        """Latent frames EnCodec produces for ``n_samples`` of audio (it pads the last frame)."""
        return math.ceil(n_samples / HOP_LENGTH)

    @staticmethod
    def samples_for(n_frames: int) -> int:
        return n_frames * HOP_LENGTH

    def encode(self, audio: np.ndarray | torch.Tensor, batch_size: int | None = None) -> np.ndarray:
        """Mono 24 kHz audio ``(B, T)`` or ``(T,)`` -> float32 latents ``(B, 128, ceil(T/320))``."""
        waves = torch.as_tensor(np.asarray(audio, dtype=np.float32) if not torch.is_tensor(audio) else audio)
        if waves.dim() == 1:
            waves = waves[None]
        if waves.dim() != 2:
            raise ValueError(f"audio must be (T,) or (batch, T) mono samples, got shape {tuple(waves.shape)}")
        waves = waves.to(torch.float32)
        outputs = [self._encode_batch(part) for part in torch.split(waves, batch_size or self.batch_size)]
        return np.concatenate(outputs, axis=0)

    def decode(self, latents: np.ndarray | torch.Tensor, batch_size: int | None = None) -> np.ndarray:
        """Latents ``(B, 128, F)`` (or ``(128, F)``) -> float32 audio ``(B, F * 320)``."""
        codes = torch.as_tensor(np.asarray(latents, dtype=np.float32) if not torch.is_tensor(latents) else latents)
        if codes.dim() == 2:
            codes = codes[None]
        if codes.dim() != 3 or codes.shape[1] != CHANNELS:
            raise ValueError(f"latents must be (batch, {CHANNELS}, frames), got shape {tuple(codes.shape)}")
        codes = codes.to(torch.float32)
        outputs = [self._decode_batch(part) for part in torch.split(codes, batch_size or self.batch_size)]
        return np.concatenate(outputs, axis=0)

    @torch.inference_mode()
    def _encode_batch(self, waves: torch.Tensor) -> np.ndarray:
        # bf16 autocast runs convolutions and the LSTM in bfloat16 (AMX / AVX-512 BF16 CPUs, any recent GPU) and
        # keeps the rest float32; on a CPU without native bf16 it is emulated and slower (benchmarks/bench_codec.py).
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            emb = self.model.encoder(waves.to(self.device)[:, None, :])
        if self.latent_kind == "quantized":
            codes = self.model.quantizer.encode(emb, FRAME_RATE, self.identity["bandwidth"])
            emb = self.model.quantizer.decode(codes)
        return emb.float().cpu().numpy()

    @torch.inference_mode()
    def _decode_batch(self, latents: torch.Tensor) -> np.ndarray:
        audio = self.model.decoder(latents.to(self.device))
        return audio[:, 0, : latents.shape[-1] * HOP_LENGTH].float().cpu().numpy()


def load_codec(
    weights: str | os.PathLike | None = "auto",
    device: str | torch.device = "cpu",
    latent_kind: LatentKind = "continuous",
    bandwidth: float = 6.0,
    seed: int = 0,
    batch_size: int | None = None,
    allow_download: bool = True,
    precision: Precision = "fp32",
) -> Codec:
    """Build the codec from a weight spec (see :mod:`emovae.codec.weights`) for inference on ``device``."""
    if latent_kind not in LATENT_KINDS:
        raise ValueError(f"latent_kind {latent_kind!r} is not one of {LATENT_KINDS}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
    if latent_kind == "quantized" and float(bandwidth) not in BANDWIDTHS:
        raise ValueError(f"bandwidth {bandwidth} is not one EnCodec 24 kHz supports: {BANDWIDTHS}")
    source = resolve_weights(weights, seed)
    state = load_state_dict(source, allow_download=allow_download)
    model = build_model(source, state)
    identity = codec_identity(source, model.state_dict(), latent_kind, bandwidth)
    torch_device = device if isinstance(device, torch.device) else resolve_device(device)
    model = optimise_for_inference(model).to(torch_device)
    if batch_size is None:
        batch_size = DEFAULT_GPU_BATCH if torch_device.type == "cuda" else DEFAULT_CPU_BATCH
    return Codec(model=model, identity=identity, device=torch_device, batch_size=int(batch_size), precision=precision)


def build_model(source: WeightsSource, state: dict[str, torch.Tensor] | None) -> EncodecModel:
    """The untouched EnCodec 24 kHz model: seeded random init, or the given pretrained state dict."""
    if source.kind == "random":
        torch.manual_seed(int(source.seed or 0))  # the architecture draws its init from the global RNG
    with warnings.catch_warnings():  # encodec 0.1.1 uses the deprecated weight_norm; not ours to fix
        warnings.simplefilter("ignore", FutureWarning)
        model = EncodecModel.encodec_model_24khz(pretrained=False)
    if state is not None:
        model.load_state_dict(state)
    return model.eval()


def codec_identity(
    source: WeightsSource, state: dict[str, torch.Tensor], latent_kind: LatentKind, bandwidth: float
) -> dict[str, Any]:
    """The identity dict every artefact records (see the latents contract in emovae/formats.py)."""
    weights_hash = state_dict_hash(state)
    codec_id = f"random-s{source.seed}-{weights_hash}" if source.kind == "random" else f"pretrained-{weights_hash}"
    return {
        "codec_id": codec_id,
        "weights": source.kind,
        "seed": source.seed if source.kind == "random" else None,
        "latent_kind": latent_kind,
        "bandwidth": float(bandwidth) if latent_kind == "quantized" else None,
        "sample_rate": SAMPLE_RATE,
        "frame_rate": FRAME_RATE,
        "channels": CHANNELS,
        "weights_hash": weights_hash,
    }
