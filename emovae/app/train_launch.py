"""What a Training-tab run does in its background thread: prepare latents, then train.

The hyper-parameters come from the browser (or straight from the HTTP API), so they are checked
here with ranges sized for an interactive app. Preparation reuses the pipeline's own resumable
stages, all in the run's thread with the run's progress: the dataset's chunk files are written if
they do not exist yet (the demo dataset is generated once per host), encoded once per codec into
the app cache, and a second run on the same data starts training at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from emovae.app.dataset import DatasetView
from emovae.checks import number_in_range
from emovae.progress import Progress


LIMITS = {"epochs": (1, 200), "batch_size": (2, 256), "learning_rate": (1e-6, 0.1), "beta": (0.0, 10.0), "latent_dim": (2, 128)}


@dataclass(frozen=True)
class TrainingRequest:
    """The hyper-parameters a visitor may set (everything else keeps the training stage's defaults)."""

    epochs: int = 20
    batch_size: int = 16
    learning_rate: float = 1e-3
    beta: float = 0.5
    latent_dim: int = 32

    @classmethod
    def checked(cls, epochs, batch_size, learning_rate, beta, latent_dim) -> "TrainingRequest":
        values = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "beta": beta, "latent_dim": latent_dim}
        for name, value in values.items():
            number = number_in_range(value, name, *LIMITS[name])
            if name in ("epochs", "batch_size", "latent_dim") and number != int(number):
                raise ValueError(f"{name}={value!r} must be a whole number")
        return cls(int(epochs), int(batch_size), float(learning_rate), float(beta), int(latent_dim))


def training_codec_weights() -> str:
    """New work uses pretrained EnCodec when its weights are on this machine, else the random-init codec."""
    from emovae.codec.weights import resolve_weights

    return "auto" if resolve_weights("auto").path is not None else "random"


def latents_dir_for(view: DatasetView, cache_dir: Path, weights: str) -> Path:
    digest = hashlib.sha1(str(view.chunks_dir.resolve()).encode()).hexdigest()[:12]
    return Path(cache_dir) / "latents" / f"{digest}-{weights}"


def prepare_latents(view: DatasetView, cache_dir: Path, progress: Progress | None = None) -> Path:
    """Encode the dataset's chunks into the app cache (resumable; only new chunks are encoded)."""
    from emovae.codec.encode import EncodeConfig, run_encode

    weights = training_codec_weights()
    out = latents_dir_for(view, cache_dir, weights)
    config = EncodeConfig(chunks=view.chunks_dir.parent, out=out, chunk_seconds=view.chunk_seconds, weights=weights,
                          seed=0, device="auto", plots=False)
    run_encode(config, progress=progress)
    return out


def make_launch(request: TrainingRequest, dataset: Callable[[Progress], DatasetView], cache_dir: Path) -> Callable[..., Any]:
    """The function the run registry calls in the run's thread; ``dataset(progress)`` gives the chunk files."""

    def launch(run_dir: Path, callbacks: list, stop_event, progress: Progress):
        from emovae.train import TrainConfig, train

        view = dataset(progress)
        latents = prepare_latents(view, cache_dir, progress)
        progress(0, request.epochs, "training")
        config = TrainConfig(latents=str(latents), out=str(run_dir), chunk_seconds=view.chunk_seconds,
                             chunks=str(view.chunks_dir.parent)).with_overrides(
            epochs=request.epochs, batch_size=request.batch_size, lr=request.learning_rate, beta=request.beta,
            latent_dim=request.latent_dim, kl_warmup=min(5.0, request.epochs / 2), write_audio=False, num_threads=1,
            eval_samples_per_target=2, n_reconstructions=2,
        )
        return train(config, callbacks=callbacks, stop_event=stop_event)

    return launch
