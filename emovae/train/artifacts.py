"""End-of-training outputs: figures, evaluation metrics, reconstruction samples and the latent map.

Written from ``best.pt`` once training completes, so every artefact describes the model a later stage
will load. Audio renderings are optional: they need the codec the latents were made with, which may be
absent (no pretrained weights offline) or still unwritten; training never fails because of them.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from emovae.audio import write_wav
from emovae.io import write_json
from emovae.model.checkpoint import load_checkpoint
from emovae.model.vae import ConditionalVAE
from emovae.progress import Progress
from emovae.train.config import TrainConfig
from emovae.train.dataset import LatentDataset, Split
from emovae.train.evaluate import evaluate
from emovae.train.latent_map import pooled_posterior_means, save_latent_map
from emovae.train.plots import plot_conditioning, plot_latent_space, plot_reconstructions, plot_training_curves
from emovae.train.score import train_score_decoder

METRICS = "metrics.json"
LATENT_MAP = "latent_map.npz"
FIGURES = {
    "curves": "training_curves.png",
    "reconstructions": "reconstructions.png",
    "latent_space": "latent_space.png",
    "conditioning": "conditioning.png",
}
SAMPLES_DIR = "samples"


def write_final_artifacts(out: Path, config: TrainConfig, dataset: LatentDataset, split: Split,
                          history: pd.DataFrame, device: torch.device, progress: Progress | None = None,
                          chunk_level: dict[str, float] | None = None) -> dict[str, Any]:
    """Evaluate the best checkpoint and write every figure, ``metrics.json`` and ``latent_map.npz``;
    ``progress(done, total, message)`` hears each phase (and each chunk the score decoder describes).
    ``chunk_level`` is the summary the fit of the VAE's chunk level returned at the start of training."""
    report = progress or (lambda done, total, message: None)
    report(0, 0, "evaluating best.pt")
    model, info = load_checkpoint(out / "best.pt", map_location=device)
    plot_training_curves(history, out / FIGURES["curves"])
    metrics, conditioning = evaluate(
        model, dataset, split.train_index, split.val_index, config.batch_size, device,
        samples_per_target=config.eval_samples_per_target, seed=config.seed, test_index=split.test_index,
        guidance=config.guidance if model.config.unconditional else 1.0,
    )
    rho = (metrics["conditioning"]["rho_valence"], metrics["conditioning"]["rho_arousal"])
    plot_conditioning(conditioning.targets, conditioning.predictions, rho, out / FIGURES["conditioning"])
    report(0, 0, "writing samples and the latent map")
    metrics["audio"] = write_reconstruction_samples(out, model, dataset, split.val_index, config, device)
    if chunk_level:  # what the emotion explains of the chunk statistics, and the shrinkage used
        metrics["chunk_level"] = dict(chunk_level)
    write_latent_map(out, model, dataset, split.train_index, config.batch_size)
    if config.chunks is not None:
        metrics["score_decoder"] = train_score_decoder(out, dataset, split, config.chunks, progress=progress)[1]
    metrics.update({
        "best_epoch": info["epoch"],
        "best_val_total": info["metrics"].get("val_total"),
        "epochs": int(len(history)),
        "codec_id": dataset.codec["codec_id"],
        "chunk_seconds": config.chunk_seconds,
        "n_train_chunks": int(len(split.train_index)),
        "n_val_chunks": int(len(split.val_index)),
        "n_test_chunks": int(len(split.test_index)),
        "figures": dict(FIGURES),
    })
    write_json(out / METRICS, metrics)
    return metrics


@torch.no_grad()
def write_reconstruction_samples(out: Path, model: ConditionalVAE, dataset: LatentDataset, index: np.ndarray,
                                 config: TrainConfig, device: torch.device) -> dict[str, Any]:
    """Heat-map figure of the first validation chunks, plus their audio when the codec can be rebuilt."""
    rows = np.sort(index)[: config.n_reconstructions]
    x, cond = dataset.batch(rows)
    recon = model.reconstruct(x.to(device), cond.to(device)).cpu().numpy()
    ids = dataset.labels["chunk_id"].astype(str).to_numpy()[rows]
    titles = [f"{cid} (V={v:.2f}, A={a:.2f})" for cid, (v, a) in zip(ids, cond.numpy())]
    plot_reconstructions(x.numpy(), recon, titles, out / FIGURES["reconstructions"])
    if not config.write_audio:
        return {"written": [], "skipped": "disabled (write_audio=false)"}
    return _render_audio(out / SAMPLES_DIR, dataset.codec, x.numpy(), recon, ids, device)


def _render_audio(folder: Path, identity: dict[str, Any], originals: np.ndarray, recons: np.ndarray,
                  ids: np.ndarray, device: torch.device) -> dict[str, Any]:
    try:
        from emovae.codec import load_codec
    except ImportError as exc:
        return {"written": [], "skipped": f"codec module unavailable ({exc})"}
    try:
        codec = load_codec(
            weights="random" if identity.get("weights") == "random" else "auto",
            device=str(device),
            latent_kind=identity.get("latent_kind", "continuous"),
            bandwidth=identity.get("bandwidth") or 6.0,  # unused for continuous latents
            seed=identity.get("seed") or 0,
        )
        if codec.identity.get("codec_id") != identity.get("codec_id"):
            return {"written": [], "skipped": f"rebuilt codec {codec.identity.get('codec_id')!r} is not the "
                                              f"latents' codec {identity.get('codec_id')!r}"}
        audio = codec.decode(np.concatenate([originals, recons]))
    except Exception as exc:  # optional output: a missing/broken codec must not fail a finished run
        warnings.warn(f"reconstruction audio skipped: {type(exc).__name__}: {exc}", stacklevel=2)
        return {"written": [], "skipped": f"{type(exc).__name__}: {exc}"}
    written = []
    for i, cid in enumerate(ids):
        for kind, wave in (("original", audio[i]), ("reconstruction", audio[len(ids) + i])):
            path = folder / f"{cid}_{kind}.wav"
            write_wav(path, wave)
            written.append(str(path.relative_to(folder.parent)))
    return {"written": written, "skipped": None}


def write_latent_map(out: Path, model: ConditionalVAE, dataset: LatentDataset, index: np.ndarray,
                     batch_size: int) -> Path:
    """The training chunks' latent map (``latent_map.npz``, see :mod:`emovae.train.latent_map`) and its figure."""
    rows = np.sort(index)
    means = pooled_posterior_means(model, dataset.latents, dataset.conditions, rows, batch_size)
    conditions = dataset.conditions[rows]
    path, coords, explained = save_latent_map(out / LATENT_MAP, means, conditions,
                                              dataset.labels["chunk_id"].to_numpy(dtype="U")[rows])
    plot_latent_space(coords, conditions[:, 0], conditions[:, 1], list(explained), out / FIGURES["latent_space"])
    return path
