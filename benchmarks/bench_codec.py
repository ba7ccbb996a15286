"""How fast does EnCodec 24 kHz encode/decode here? Prints audio-seconds per wall-second (x real time).

    python benchmarks/bench_codec.py                    # reference vs optimised, batch sizes 1 2 4 8
    python benchmarks/bench_codec.py --batch-sizes 2 --repeats 5
    python benchmarks/bench_codec.py --variants optimised --precisions fp32 bf16 --batch-sizes 1 4   # bf16 beside fp32

Random-init weights have exactly the compute of the pretrained ones, so no download is needed.
"reference" is the untouched encodec model; "optimised" is what :func:`emovae.codec.load_codec` runs
(weight norm folded, fast padding, 1x1 convs as matmul; see emovae/codec/inference.py). Each figure is
the best of ``--repeats`` runs, because other processes on a shared machine only ever slow a run down;
the load average is printed alongside so the figures can be judged. With ``--precisions fp32 bf16``
each batch size is also encoded under bfloat16 autocast (what ``--precision bf16`` runs), side by side
in the same run, with the latents' relative L2 error against fp32.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a plain script from anywhere

from emovae.codec.encodec_codec import build_model, configure_threads  # noqa: E402
from emovae.codec.inference import optimise_for_inference  # noqa: E402
from emovae.codec.weights import WeightsSource  # noqa: E402

SR = 24_000


def best_rate(run: Callable[[], object], audio_seconds: float, repeats: int) -> tuple[float, float]:
    """Best audio-seconds per wall-second, and per CPU-second of this process (load-independent)."""
    run()  # warm-up: allocator, oneDNN primitive caches
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return audio_seconds / best_wall, audio_seconds / best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each chunk")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="default: every core this process may use")
    parser.add_argument("--variants", nargs="+", default=["reference", "optimised"], choices=["reference", "optimised"])
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    args = parser.parse_args()

    threads = configure_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}, "
          f"{threads} threads, load average before: {os.getloadavg()[0]:.2f}")
    source = WeightsSource("random", None, 0)
    models = {"reference": build_model(source, None), "optimised": optimise_for_inference(build_model(source, None))}
    audio = 0.1 * torch.randn(max(args.batch_sizes), 1, int(args.seconds * SR), generator=torch.Generator().manual_seed(0))

    with torch.no_grad():  # the naive baseline the issue measured: batch 8, no_grad, untouched model
        batch = audio[:8]
        wall, cpu = best_rate(lambda: models["reference"].encoder(batch), len(batch) * args.seconds, args.repeats)
        print(f"naive no_grad, batch {len(batch)}: encode {wall:.1f}x real time (wall), {cpu:.1f} audio-s per CPU-s")
    print("x real time = audio-seconds per wall-second; cpu = audio-seconds per CPU-second of this process")
    print(f"{'variant':>10s} {'prec':>4s} {'batch':>5s}  {'encode':>7s} {'cpu':>6s}  {'decode':>7s} {'cpu':>6s}  "
          f"{'rel L2':>7s}  load")
    with torch.inference_mode():
        for name in args.variants:
            model = models[name]
            for size in args.batch_sizes:
                batch = audio[:size]
                seconds = size * args.seconds
                reference = model.encoder(batch)
                for precision in args.precisions:
                    def encode() -> torch.Tensor:
                        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                            return model.encoder(batch).float()

                    latents = encode()
                    error = float(torch.linalg.vector_norm(latents - reference) / torch.linalg.vector_norm(reference))
                    enc, enc_cpu = best_rate(encode, seconds, args.repeats)
                    dec, dec_cpu = best_rate(lambda: model.decoder(latents), seconds, args.repeats)
                    print(f"{name:>10s} {precision:>4s} {size:5d}  {enc:6.1f}x {enc_cpu:6.1f}  {dec:6.1f}x {dec_cpu:6.1f}  "
                          f"{error:7.1e}  {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
