"""Emotion control, measured: does generated music sound like the emotion it was asked for?

Renders a 5x5 grid of (valence, arousal) targets with several seeds through the synth renderer,
estimates each clip's emotion with the project's estimator, and reports Spearman rho per axis and
whether each of the four presets lands in its own quadrant. Goal: rho >= 0.9 (arousal), >= 0.8
(valence), 4/4 presets.

    python benchmarks/bench_emotion_control.py --checkpoint vae_model/best.pt --estimator estimator.json
    python benchmarks/bench_emotion_control.py             # builds what it lacks in .cache/bench_generate/

Without --estimator it fits one on demo-dataset chunks (made with the data stage, cached); without
--checkpoint it uses an untrained VAE of the default size with a random-codec identity: the
emotion reaches the synth through the condition and the latent only shapes contour, density and
dynamics, so this measures the same control path (say which checkpoint you used when reporting).
Writes a CSV of all estimates and the figure (docs/figures/ by default) for the README.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from emovae.emotion import PRESETS, quadrant  # noqa: E402
from emovae.eval.estimator import EmotionEstimator, fit_estimator_from_chunks  # noqa: E402
from emovae.generate.generator import GenerationRequest, Generator  # noqa: E402
from emovae.generate.plots import plot_emotion_control  # noqa: E402
from emovae.io import write_csv  # noqa: E402

CACHE = Path(".cache/bench_generate")


def untrained_checkpoint(folder: Path) -> Path:
    """A default-size VAE with a random-codec identity (no training, no codec weights needed)."""
    import torch

    from emovae.model import ConditionalVAE, VAEConfig, save_checkpoint

    path = folder / "untrained_vae.pt"
    if not path.is_file():
        torch.manual_seed(0)
        identity = {"codec_id": "random-s0-bench", "weights": "random", "seed": 0, "latent_kind": "continuous",
                    "bandwidth": None, "sample_rate": 24000, "frame_rate": 75, "channels": 128, "weights_hash": "bench"}
        save_checkpoint(path, ConditionalVAE(VAEConfig()), {"codec": identity, "epoch": 0, "metrics": {}, "chunk_seconds": 5})
    return path


def demo_estimator(folder: Path, n_songs: int, chunk_seconds: int) -> EmotionEstimator:
    """Fit the estimator on chunks of the demo dataset, as the pipeline does (cached)."""
    from emovae.data.demo import make_demo_dataset
    from emovae.data.preprocess import PreprocessConfig, run_preprocess
    from emovae.formats import chunks_dir

    cached = folder / f"estimator_demo{n_songs}_{chunk_seconds}s.json"
    if cached.is_file():
        return EmotionEstimator.load(cached)
    root = make_demo_dataset(folder / f"demo{n_songs}", n_songs=n_songs, seconds=45.0, seed=0)
    processed = folder / f"processed{n_songs}"
    run_preprocess(PreprocessConfig(root, processed, (chunk_seconds,), make_plots=False))
    estimator = fit_estimator_from_chunks(chunks_dir(processed, chunk_seconds))
    estimator.save(cached)
    return estimator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--estimator", type=Path, default=None)
    parser.add_argument("--demo-songs", type=int, default=40, help="demo songs to fit the estimator on (default 40)")
    parser.add_argument("--chunk-seconds", type=int, default=5)
    parser.add_argument("--grid", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--style", choices=("ensemble", "piano"), default="ensemble")
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    args = parser.parse_args(argv)

    CACHE.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    checkpoint = args.checkpoint or untrained_checkpoint(CACHE)
    estimator = EmotionEstimator.load(args.estimator) if args.estimator else demo_estimator(CACHE, args.demo_songs, args.chunk_seconds)
    generator = Generator.from_checkpoint(checkpoint, device="cpu")

    levels = np.linspace(0.0, 1.0, args.grid)
    targets = [(float(v), float(a)) for v in levels for a in levels]
    jobs = [(target, seed) for target in targets for seed in range(args.seeds)]
    jobs += [(PRESETS[name], 100 + seed) for name in PRESETS for seed in range(args.seeds)]  # unseen seeds for presets
    rows = []
    for (v, a), seed in tqdm(jobs, desc="render + estimate", unit="clip"):
        request = GenerationRequest(checkpoint, emotion=(v, a), seconds=args.seconds, seed=seed, device="cpu", synth_style=args.style)
        audio, sr, _ = generator.generate(request)
        ev, ea = estimator.predict(audio, sr)
        rows.append({"target_valence": v, "target_arousal": a, "seed": seed, "est_valence": ev, "est_arousal": ea})
    table = pd.DataFrame(rows)
    grid = table[table.seed < 100]
    rho_v = float(spearmanr(grid.target_valence, grid.est_valence)[0])
    rho_a = float(spearmanr(grid.target_arousal, grid.est_arousal)[0])
    presets = table[table.seed >= 100]
    hits = {name: 0 for name in PRESETS}
    for row in presets.itertuples():
        name = quadrant(row.target_valence, row.target_arousal)
        hits[name] += int(quadrant(row.est_valence, row.est_arousal) == name)

    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "emotion_control.csv", table)
    plot_emotion_control(grid[["target_valence", "target_arousal"]].to_numpy(), grid[["est_valence", "est_arousal"]].to_numpy(),
                         args.out / "emotion_control.png", rho=(rho_v, rho_a))
    print(f"checkpoint: {checkpoint}  estimator: {args.estimator or 'fitted on demo chunks'} (training R^2 "
          f"V {estimator.training.get('valence_r2', float('nan')):.3f}, A {estimator.training.get('arousal_r2', float('nan')):.3f})")
    print(f"grid {args.grid}x{args.grid} x {args.seeds} seeds, {args.seconds:g} s clips, style {args.style}")
    print(f"Spearman rho  valence {rho_v:.3f} (goal >= 0.8)   arousal {rho_a:.3f} (goal >= 0.9)")
    total = sum(hits.values())
    print(f"preset quadrant accuracy {total}/{len(presets)}: " + ", ".join(f"{k} {n}/{args.seeds}" for k, n in hits.items()))
    mean = presets.groupby(["target_valence", "target_arousal"])[["est_valence", "est_arousal"]].mean()
    for (v, a), est in mean.iterrows():
        print(f"  {quadrant(v, a):5s} target ({v:.0f}, {a:.0f}) -> mean estimate ({est.est_valence:.2f}, {est.est_arousal:.2f})")
    print(f"figure: {args.out / 'emotion_control.png'}  ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
