"""Training settings as one dataclass, loadable from a JSON file and overridable from the CLI.

Precedence is defaults < ``--config file.json`` < explicit flags, so a saved config reproduces a run
and a flag can still tweak one setting. The model's architecture is the nested ``model`` section
(a :class:`VAEConfig`), e.g. ``{"epochs": 40, "model": {"latent_dim": 16}}``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from emovae.checks import check_known_keys
from emovae.formats import CHUNK_SECONDS_CHOICES, DEFAULT_LATENT_DIR, DEFAULT_MODEL_DIR
from emovae.io import read_json
from emovae.model.config import VAEConfig


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (paths, optimisation, objective, evaluation)."""

    latents: str = DEFAULT_LATENT_DIR
    out: str = DEFAULT_MODEL_DIR
    chunk_seconds: int = 5
    model: VAEConfig = field(default_factory=VAEConfig)
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # max gradient norm; 0 disables
    epochs: int = 30
    beta: float = 0.5  # KL weight at the end of warm-up (KL is per input value, see emovae.model.loss)
    kl_warmup: float = 5.0  # epochs of linear warm-up of beta from 0
    cond_dropout: float = 0.15  # fraction of chunks trained without their condition (unconditional mode)
    guidance: float = 1.0  # classifier-free guidance scale recorded for generation and used by the evaluation (1 = none)
    emotion_weight: float = 1.0  # weight of "the emotion head reads c back from the VAE's own samples"; 0 = off
    emotion_samples: int = 32  # VAE samples per step for that term, at most the batch (each costs a decoder pass)
    # weight of "the score decoder reads the sampled chunks' descriptors off the VAE's samples" (needs chunks);
    # off by default: on this engine it cost the model path valence (README, *the descriptor term*)
    descriptor_weight: float = 0.0
    prior_fit: float = 1.0  # weight of the prior's own likelihood term (see emovae.model.loss.vae_loss); 0 = off
    # The weights a run validates and ships (best.pt) are an exponential moving average of the trained ones,
    # updated every step with this decay (after a warm-up, see emovae.train.ema); 0 = the trained weights.
    # Why: on the demo bundle one training seed's model-path valence moved by 0.03 from a rebuild whose data
    # differed only by float rounding; averaged at 0.99, the valence over seeds 0-2 went 0.920 +- 0.017 ->
    # 0.940 +- 0.017, every seed up (README, *How much of a figure is the training seed*).
    ema_decay: float = 0.99
    free_bits: float = 0.05  # nats per latent channel and latent frame below which KL is not penalised
    val_fraction: float = 0.2  # fraction of *songs* held out to pick best.pt
    test_fraction: float = 0.2  # fraction of *songs* held out from everything fitted or chosen (honest figures)
    chunks: str | None = None  # the preprocess output the latents came from: its audio trains the score decoder
    seed: int = 0
    device: str = "auto"
    resume: bool = False
    num_threads: int | None = None  # torch CPU threads; None keeps torch's default
    eval_samples_per_target: int = 4  # generated chunks per (V, A) target in the conditioning check
    n_reconstructions: int = 4  # chunks shown in reconstruction figures / rendered as audio
    write_audio: bool = True  # decode reconstructions through the codec when it can be rebuilt

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            object.__setattr__(self, "model", VAEConfig.from_dict(self.model))
        problems = []
        if int(self.chunk_seconds) not in CHUNK_SECONDS_CHOICES:
            problems.append(f"chunk_seconds={self.chunk_seconds} (choose one of {CHUNK_SECONDS_CHOICES})")
        for name in ("batch_size", "epochs"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name}={getattr(self, name)} (must be >= 1)")
        for name in ("lr",):
            if not float(getattr(self, name)) > 0:
                problems.append(f"{name}={getattr(self, name)} (must be > 0)")
        for name in ("beta", "kl_warmup", "free_bits", "prior_fit", "emotion_weight", "descriptor_weight", "grad_clip", "weight_decay"):
            if float(getattr(self, name)) < 0:
                problems.append(f"{name}={getattr(self, name)} (must be >= 0)")
        if not 0.0 < float(self.val_fraction) < 1.0:
            problems.append(f"val_fraction={self.val_fraction} (must be strictly between 0 and 1)")
        if float(self.descriptor_weight) > 0 and self.chunks is None:
            problems.append(f"descriptor_weight={self.descriptor_weight} needs chunks (the preprocess output the latents "
                            "came from: pass --chunks, or set the weight to 0)")
        if not 0.0 <= float(self.ema_decay) < 1.0:
            problems.append(f"ema_decay={self.ema_decay} (must be in [0, 1); 0 turns the average off)")
        if int(self.emotion_samples) < 1:
            problems.append(f"emotion_samples={self.emotion_samples} (must be >= 1)")
        if not 0.0 <= float(self.cond_dropout) < 1.0:
            problems.append(f"cond_dropout={self.cond_dropout} (must be in [0, 1))")
        if not 0.0 <= float(self.guidance) <= 10.0:
            problems.append(f"guidance={self.guidance} (must be in [0, 10])")
        if not 0.0 <= float(self.test_fraction) < 1.0 or float(self.val_fraction) + float(self.test_fraction) >= 1.0:
            problems.append(f"test_fraction={self.test_fraction} (must be in [0, 1) and leave songs for training "
                            f"besides val_fraction={self.val_fraction})")
        if problems:
            raise ValueError("invalid training config: " + "; ".join(problems))

    @property
    def out_dir(self) -> Path:
        return Path(self.out)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["model"] = self.model.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config", saved: bool = False) -> "TrainConfig":
        """Build from a dict, refusing unknown keys so a typo cannot silently fall back to a default
        (``saved``: a config a checkpoint recorded, see :meth:`VAEConfig.from_dict`)."""
        check_known_keys(data, cls, source, "training")
        values = dict(data)
        if "model" in values:
            values["model"] = VAEConfig.from_dict(dict(values["model"]), source=f"{source} [model]", saved=saved)
        return cls(**values)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "TrainConfig":
        data = read_json(path)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a training config must be a JSON object, got {type(data).__name__}")
        return cls.from_dict(data, source=str(path))

    def with_overrides(self, **overrides: Any) -> "TrainConfig":
        """A copy with the given (non-None) settings changed; ``latent_dim`` reaches into ``model``."""
        overrides = {k: v for k, v in overrides.items() if v is not None}
        model_keys = {f.name for f in fields(VAEConfig)}
        model_overrides = {k: overrides.pop(k) for k in list(overrides) if k in model_keys}
        config = replace(self, **overrides)
        if model_overrides:
            config = replace(config, model=replace(config.model, **model_overrides))
        return config
