"""How much of the model path's figure is the training seed: train the VAE under several seeds on one set of
latents, and measure each with the same judge.

    python benchmarks/bench_training_seeds.py --run .cache/demo-run --seeds 0 1 2

``--run`` is a finished ``pipeline.run_all`` work folder (its latents, chunks and described chunks are
reused, nothing is encoded again). For every seed this trains a VAE exactly as ``run_all`` does
(``--epochs``, ``--batch-size``; the seed also draws that run's song split), then measures

* the model path's emotion control: the benchmark's 5x5 grid x 3 seeds + presets, judged by one fixed
  estimator (``--estimator``, the bundle's by default) so that only the VAE and its score decoder
  change from seed to seed;
* its sample fidelity (:mod:`emovae.eval.fidelity`): descriptors read off samples at each validation
  chunk's label against those measured from the chunk, so the link that breaks first is visible.

Why: an engine or model change is judged by a rebuild, and a rebuild is one training run. Before a
difference between two rebuilds is called a result it has to be larger than what the seed alone moves.
Trained runs are kept under ``--work`` and reused (a finished seed is not trained again, whatever the
flags: give each setting its own ``--work``). ``--descriptor-weight`` sets the descriptor term
(:mod:`emovae.train.descriptor_term`) for the runs it trains.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from emovae.analysis.descriptors import DESCRIPTOR_NAMES  # noqa: E402
from emovae.eval.control import measure_control  # noqa: E402
from emovae.eval.estimator import EmotionEstimator  # noqa: E402
from emovae.eval.fidelity import sample_fidelity  # noqa: E402
from emovae.generate.generator import GenerationRequest, Generator  # noqa: E402
from emovae.model.score import SCORE_DECODER_FILE, ScoreDecoder  # noqa: E402
from emovae.train import TqdmCallback, TrainConfig, train  # noqa: E402
from emovae.train.dataset import load_latent_dataset, load_split  # noqa: E402
from emovae.train.score import chunk_descriptors, descriptors_cache  # noqa: E402

SHOWN = ("register", "brightness", "loudness_db", "onset_rate")  # the descriptors the engine's emotion rides on


def train_seed(run: Path, out: Path, seed: int, chunk_seconds: int, epochs: int, batch_size: int,
               descriptor_weight: float) -> Path:
    """Train (or finish, or reuse) the VAE of ``seed`` in ``out``; returns its best checkpoint."""
    best = out / "best.pt"
    if best.is_file() and (out / SCORE_DECODER_FILE).is_file():
        return best
    out.mkdir(parents=True, exist_ok=True)
    cache = descriptors_cache(run / "vae_model", chunk_seconds)
    if cache.is_file() and not descriptors_cache(out, chunk_seconds).is_file():
        shutil.copyfile(cache, descriptors_cache(out, chunk_seconds))  # the chunks' audio is the same: skip describing
    config = TrainConfig(latents=str(run / "latent_representations"), out=str(out), chunk_seconds=chunk_seconds, epochs=epochs,
                         batch_size=batch_size, seed=seed, device="cpu", resume=(out / "last.pt").is_file(),
                         chunks=str(run / "processed_data"), descriptor_weight=descriptor_weight)
    result = train(config, callbacks=[TqdmCallback()])
    return result.best_checkpoint or result.last_checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a pipeline.run_all --work folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--estimator", type=Path, default=Path("checkpoints/demo/estimator.json"))
    parser.add_argument("--work", type=Path, default=Path(".cache/bench_training_seeds"))
    parser.add_argument("--chunk-seconds", type=int, default=5, choices=(5, 10))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--descriptor-weight", type=float, default=TrainConfig().descriptor_weight,
                        help="the descriptor term's weight (default: the training default, %(default)s)")
    args = parser.parse_args(argv)
    for needed in ("latent_representations", "processed_data"):
        if not (args.run / needed).is_dir():
            parser.error(f"{args.run / needed}: missing; --run must be a finished `python -m pipeline.run_all --work` folder")
    if not args.estimator.is_file():
        parser.error(f"{args.estimator}: no estimator; pass the one the emotion benchmark uses")

    started = time.perf_counter()
    estimator = EmotionEstimator.load(args.estimator)
    dataset = load_latent_dataset(args.run / "latent_representations", args.chunk_seconds)
    conditions_all = dataset.labels[["valence", "arousal"]].to_numpy(dtype=float)
    # The chunks' audio is the same for every seed: described once (from the run's cache), which train_seed copies.
    measured_all = chunk_descriptors(dataset.labels, args.run / "processed_data", args.chunk_seconds,
                                     descriptors_cache(args.run / "vae_model", args.chunk_seconds)).mean(axis=1)
    rows = []
    for seed in args.seeds:
        out = args.work / f"seed{seed}"
        checkpoint = train_seed(args.run, out, seed, args.chunk_seconds, args.epochs, args.batch_size, args.descriptor_weight)
        generator = Generator.from_checkpoint(checkpoint, device="cpu")

        def render(emotion, clip_seed, checkpoint=checkpoint, generator=generator):
            request = GenerationRequest(checkpoint, emotion=emotion, seconds=10.0, seed=clip_seed, device="cpu", renderer="synth")
            audio, sample_rate, _ = generator.generate(request)
            return audio, sample_rate

        def sample(emotion, clip_seed, checkpoint=checkpoint, generator=generator):
            request = GenerationRequest(checkpoint, emotion=emotion, seconds=float(args.chunk_seconds), seed=clip_seed,
                                        device="cpu", renderer="synth")
            return generator.latent(request.validated())[0]

        with tqdm(total=(5**2 + 4) * 3, desc=f"seed {seed}: model path", unit="clip") as bar:
            control = measure_control(render, estimator, 5, 3, lambda done, total: bar.update(1))
        split = load_split(out / "split.json", dataset.labels)
        val = np.sort(split.val_index)
        decoder = ScoreDecoder.load(out / SCORE_DECODER_FILE)
        fidelity = sample_fidelity(sample, decoder.predict, conditions_all[val], measured_all[val], DESCRIPTOR_NAMES)
        rows.append((seed, control, fidelity))
        print(f"seed {seed}: model rho V {control.rho_valence:.3f} A {control.rho_arousal:.3f} presets {control.hits}/"
              f"{control.preset_total}; sample fidelity r " + " ".join(f"{n} {fidelity.r[n]:.2f}" for n in SHOWN), flush=True)

    print(f"\nrun {args.run}, estimator {args.estimator}, {args.epochs} epochs, batch {args.batch_size}, "
          f"descriptor weight {args.descriptor_weight:g}; "
          f"fidelity on each seed's validation songs ({rows[0][2].n_chunks} chunks for seed {rows[0][0]})")
    print(f"{'seed':>4s} {'rho V':>7s} {'rho A':>7s} {'presets':>8s}  " + " ".join(f"{n[:10]:>10s}" for n in SHOWN))
    for seed, control, fidelity in rows:
        print(f"{seed:4d} {control.rho_valence:7.3f} {control.rho_arousal:7.3f} {control.hits:>4d}/{control.preset_total:<3d}  "
              + " ".join(f"{fidelity.r[n]:10.2f}" for n in SHOWN))
    if len(rows) > 1:
        def spread(values):
            return f"{statistics.mean(values):.3f} +- {statistics.stdev(values):.3f}"
        print(f"mean +- sd: rho V {spread([c.rho_valence for _, c, _ in rows])}, rho A {spread([c.rho_arousal for _, c, _ in rows])}; "
              + ", ".join(f"{n} r {spread([f.r[n] for _, _, f in rows])}" for n in SHOWN))
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
