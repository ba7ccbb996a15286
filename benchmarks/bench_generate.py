"""Generation speed: slider to audio.

    python benchmarks/bench_generate.py                           # the embedded demo bundle
    python benchmarks/bench_generate.py --checkpoint vae_model/best.pt --repeats 15
    python benchmarks/bench_generate.py --skip-neural --sample-rate 24000 --channels 1 --timbre additive   # the old output

Goals: 10 s of synth audio in <= 100 ms median on 2 cores (VAE sampling + score decoder, calibration
and controls + synthesis: "synthesis" below is the whole renderer), and the neural path (sampling + EnCodec decoding) >= 20x real time. Prints median and
best of N, the breakdown, ``uptime`` (the cores are shared: compare best-of-N when the load is
high) and the machine; ``--compare-threads`` shows why torch runs on one-thread workers
(emovae/generate/threads.py). Loading the checkpoint and building the codec are excluded: the
app caches both. The synth renders what a listener gets (``--sample-rate``, ``--channels``, ``--timbre``:
the listening settings, 44.1 kHz stereo on the SoundFont by default; the timbre that played is printed).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from emovae.generate.controls import latent_to_controls  # noqa: E402
from emovae.generate.generator import GenerationRequest, Generator  # noqa: E402
from emovae.generate.listening import ListeningSettings  # noqa: E402
from emovae.generate.sampler import EmotionPath, LatentSampler  # noqa: E402

def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up: first-call allocations and lazy imports are not what a slider pays
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(1e3 * (time.perf_counter() - start))
    return out


def report(label: str, ms: list[float], seconds: float) -> None:
    med, best = statistics.median(ms), min(ms)
    print(f"  {label:34s} median {med:7.1f} ms  best {best:7.1f} ms  ({seconds * 1e3 / med:5.1f}x / {seconds * 1e3 / best:5.1f}x real time)")


def bench_synth(checkpoint: Path, seconds: float, repeats: int, listening: ListeningSettings) -> None:
    generator = Generator.from_checkpoint(checkpoint, device="cpu")
    renderer = generator.renderer("synth", listening=listening)
    for emotion in ("happy", "angry", "sad", "calm"):
        request = GenerationRequest(checkpoint, emotion=emotion, seconds=seconds, seed=0, device="cpu", listening=listening)
        path = request.path
        latent = generator.sampler.sample(path, seconds, seed=0)
        timbre = generator.generate(request)[2]["timbre"]
        print(f" synth, {emotion} ({listening.sample_rate} Hz, {listening.channels} channel(s), {timbre}, "
              f"{listening.polyphony} voices):")
        report("total (sample+controls+synth)", timed(lambda: generator.generate(request), repeats), seconds)
        report("  VAE sampling", timed(lambda: generator.sampler.sample(path, seconds, seed=0), repeats), seconds)
        report("  latent -> controls", timed(lambda: latent_to_controls(latent, seconds), repeats), seconds)
        report("  synthesis", timed(lambda: renderer.render(latent, path, seconds, 0), repeats), seconds)


def bench_neural(checkpoint: Path, seconds: float, repeats: int) -> None:
    generator = Generator.from_checkpoint(checkpoint, device="cpu")
    request = GenerationRequest(checkpoint, emotion="happy", renderer="neural", seconds=seconds, seed=0, device="cpu")
    renderer = generator.renderer("neural")  # build the codec outside the timing
    latent = generator.sampler.sample(EmotionPath((1.0, 1.0)), seconds, seed=0)
    print(" neural:")
    report("total (sample+decode)", timed(lambda: generator.generate(request), repeats), seconds)
    report("  EnCodec decode", timed(lambda: renderer.render(latent, request.path, seconds, 0), repeats), seconds)


def compare_threads(checkpoint: Path, neural_checkpoint: Path | None, seconds: float, repeats: int) -> None:
    """Why generation runs torch on one-thread workers: the same work with 1 and 2 intra-op threads."""
    from emovae.generate.render import NeuralRenderer

    path = EmotionPath((1.0, 1.0))
    print(" intra-op threads (the library default is 1):")
    for threads in (1, 2):
        sampler = LatentSampler.from_checkpoint(checkpoint, cpu_threads=threads)
        report(f"  VAE sampling, {threads} thread(s)", timed(lambda: sampler.sample(path, seconds, seed=0), repeats), seconds)
    if neural_checkpoint is not None:
        sampler = LatentSampler.from_checkpoint(neural_checkpoint)
        latent = sampler.sample(path, seconds, seed=0)
        codec = Generator(sampler).renderer("neural").codec
        for threads in (1, 2):
            renderer = NeuralRenderer(codec, sampler.codec_identity, cpu_threads=threads)
            report(f"  EnCodec decode, {threads} thread(s)", timed(lambda: renderer.render(latent, path, seconds, 0), repeats), seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/demo/vae.pt"),
                        help="a checkpoint with its score decoder beside it (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--skip-neural", action="store_true")
    defaults = ListeningSettings()
    parser.add_argument("--sample-rate", type=int, default=defaults.sample_rate, help="synth output rate (default: %(default)s)")
    parser.add_argument("--channels", type=int, choices=(1, 2), default=defaults.channels, help="synth output channels (default: %(default)s)")
    parser.add_argument("--timbre", default=defaults.timbre, help="auto, soundfont or additive (default: %(default)s)")
    parser.add_argument("--polyphony", type=int, default=defaults.polyphony,
                        help="SoundFont voice limit (default: %(default)s, the listening default; 48 is the engine's)")
    parser.add_argument("--compare-threads", action="store_true", help="also time 1 vs 2 intra-op threads")
    args = parser.parse_args(argv)

    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible; uptime: {uptime}")
    synth_ckpt = args.checkpoint
    neural_ckpt = None if args.skip_neural else args.checkpoint
    listening = ListeningSettings(args.sample_rate, args.channels, args.timbre, polyphony=args.polyphony).validated()
    bench_synth(synth_ckpt, args.seconds, args.repeats, listening)
    if neural_ckpt is not None:
        bench_neural(neural_ckpt, args.seconds, args.repeats)
    if args.compare_threads:
        compare_threads(synth_ckpt, neural_ckpt, args.seconds, args.repeats)
    print(f"uptime after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
