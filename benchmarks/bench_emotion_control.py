"""Emotion control, measured side by side: the model path, its two ablations and the rules baseline.

For a checkpoint (with its score decoder) and an estimator fitted on *training songs only* (the
bundle's is), renders a 5x5 grid of (valence, arousal) x 3 seeds plus the four presets x 3 unseen
seeds, 10 s each, under four conditions in one run:

* model     the VAE's sample, played by the synth renderer (the score decoder reads the latent)
* noise     white-noise latents with the training latents' per-channel mean/std, same renderer
* shuffled  the VAE sampled at a random other emotion, labelled with the requested one
* untrained the same architecture at its seeded initial weights (with the checkpoint's normalisation
            and score decoder; its chunk level unfitted, as before training): what the renderer
            does with a model that learned nothing
* rules     the no-model baseline (hand-written emotion -> music rules)

Goals (issue 11): model rho valence >= 0.85, arousal >= 0.9, 12/12 presets; noise, shuffled and
untrained |rho| <= 0.3 on both axes. Writes emotion_control.csv and the model-path figure to --out.
The estimator hears each clip as a listener gets it (synth and rules: 44.1 kHz stereo on the SoundFont
where one loads, see emovae/generate/listening.py), folded to mono and resampled by the estimator itself.

    python benchmarks/bench_emotion_control.py --checkpoint checkpoints/demo/vae.pt --estimator checkpoints/demo/estimator.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from emovae.eval.control import measure_control  # noqa: E402
from emovae.eval.estimator import EmotionEstimator  # noqa: E402
from emovae.generate.generator import GenerationRequest, Generator  # noqa: E402
from emovae.generate.plots import plot_emotion_control  # noqa: E402
from emovae.io import write_csv  # noqa: E402

CACHE = Path(".cache/bench_emotion_control")
CONDITIONS = {"model": ("synth", "none"), "noise": ("synth", "noise"), "shuffled": ("synth", "shuffled"),
              "untrained": ("synth", "none"), "rules": ("rules", "none")}


def untrained_twin(checkpoint: Path, folder: Path) -> Path:
    """The checkpoint's architecture at its seeded initial weights, with its normalisation, codec and score decoder."""
    import shutil

    import torch

    from emovae.model import ConditionalVAE, load_checkpoint, save_checkpoint
    from emovae.model.score import SCORE_DECODER_FILE

    trained, info = load_checkpoint(checkpoint, map_location="cpu")
    torch.manual_seed(int((info.get("train_config") or {}).get("seed", 0)))  # as the training stage draws them
    model = ConditionalVAE(trained.config)
    model.set_normalization(trained.norm_mean, trained.norm_std)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "untrained.pt"
    save_checkpoint(path, model, {"codec": info["codec"], "epoch": 0, "metrics": {}, "chunk_seconds": info.get("chunk_seconds")})
    shutil.copyfile(Path(checkpoint).parent / SCORE_DECODER_FILE, folder / SCORE_DECODER_FILE)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/demo/vae.pt"))
    parser.add_argument("--estimator", type=Path, default=Path("checkpoints/demo/estimator.json"))
    parser.add_argument("--grid", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--style", choices=("ensemble", "piano"), default="ensemble")
    parser.add_argument("--conditions", nargs="+", choices=tuple(CONDITIONS), default=list(CONDITIONS))
    parser.add_argument("--guidance", type=float, default=None, help="override the checkpoint's guidance scale")
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    args = parser.parse_args(argv)

    started = time.perf_counter()
    estimator = EmotionEstimator.load(args.estimator)
    results, tables = {}, []
    for name in args.conditions:
        renderer, ablation = CONDITIONS[name]
        checkpoint = untrained_twin(args.checkpoint, CACHE) if name == "untrained" else args.checkpoint
        generator = Generator.from_checkpoint(checkpoint, device="cpu")

        def render(emotion, seed, renderer=renderer, ablation=ablation, checkpoint=checkpoint, generator=generator):
            request = GenerationRequest(checkpoint, emotion=emotion, seconds=args.seconds, seed=seed, device="cpu",
                                        renderer=renderer, ablation=ablation, synth_style=args.style,
                                        guidance=args.guidance)
            audio, sr, _ = generator.generate(request)
            return audio, sr

        with tqdm(total=(args.grid**2 + 4) * args.seeds, desc=name, unit="clip") as bar:
            results[name] = measure_control(render, estimator, args.grid, args.seeds, lambda d, t: bar.update(1))
        tables.append(results[name].table.assign(condition=name))

    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "emotion_control.csv", pd.concat(tables, ignore_index=True))
    if "model" in results:
        grid = results["model"].table[results["model"].table.preset == ""]
        plot_emotion_control(grid[["target_valence", "target_arousal"]].to_numpy(), grid[["est_valence", "est_arousal"]].to_numpy(),
                             args.out / "emotion_control.png", rho=(results["model"].rho_valence, results["model"].rho_arousal))
    training = estimator.training
    print(f"checkpoint: {args.checkpoint}  estimator: {args.estimator} (fitted on {training.get('n_clips')} training "
          f"clips; test-song R^2 V {training.get('test_valence_r2', float('nan')):.3f}, "
          f"A {training.get('test_arousal_r2', float('nan')):.3f})")
    print(f"grid {args.grid}x{args.grid} x {args.seeds} seeds + presets x {args.seeds}, {args.seconds:g} s clips, style {args.style}")
    print(f"{'condition':10s} {'rho V':>7s} {'rho A':>7s} {'presets':>8s}")
    for name, result in results.items():
        print(f"{name:10s} {result.rho_valence:7.3f} {result.rho_arousal:7.3f} {result.hits:>4d}/{result.preset_total}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
