"""Issue 12 benchmark: does the engine's sensory dissonance fall as valence rises, and is its mode right?

    python benchmarks/bench_engine.py                          # 5 x 5 grid x 3 seeds, 10 s clips at 44.1 kHz
    python benchmarks/bench_engine.py --seeds 5 --csv out.csv  # per-clip table as CSV
    python benchmarks/bench_engine.py --out DIR                # also save the four preset clips (seed 0) as WAV
    taskset -c 0,1 python benchmarks/bench_engine.py           # the project's 2-core budget on a bigger machine

Renders every (valence, arousal) in {0, .25, .5, .75, 1}^2 with the rules path
(``emovae.music.create_melodic_music``), measures each clip with :mod:`emovae.eval.dissonance`
and prints:

* Spearman rho of roughness vs target valence over all clips and per arousal level, under both
  weightings (equal-loudness and A-weighting), and the mean roughness per valence level;
* the share of clips read major at v >= 0.75 and minor at v <= 0.25 (Krumhansl-Kessler key finding);
* the median render time of one clip (the render call only) with the load average, which the
  timing depends on when the cores are shared.

Goals (issue 12): rho <= -0.5 under both weightings; >= 90 % major at v >= 0.75 and >= 90 % minor at
v <= 0.25; 10 s rendered in <= 150 ms median on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a plain script from anywhere

from emovae.audio import write_wav  # noqa: E402
from emovae.emotion import PRESETS  # noqa: E402
from emovae.eval.dissonance import WEIGHTINGS, key_mode, roughness  # noqa: E402
from emovae.music import create_melodic_music  # noqa: E402

LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
SAMPLE_RATE = 44_100
RHO_GOAL, MODE_GOAL, RENDER_GOAL_MS = -0.5, 90.0, 150.0


def render_kwargs() -> dict:
    """Ask for stereo where the engine offers it (the rewritten engine may; today's returns mono)."""
    return {"channels": 2} if "channels" in inspect.signature(create_melodic_music).parameters else {}


def render(valence: float, arousal: float, seconds: float, seed: int) -> tuple[np.ndarray, float]:
    """One clip and the milliseconds the render call alone took."""
    start = time.perf_counter()
    audio = create_melodic_music(valence, arousal, seconds, seed=seed, sample_rate=SAMPLE_RATE, **render_kwargs())
    return np.asarray(audio), 1000.0 * (time.perf_counter() - start)


def rho(x: list[float], y: list[float]) -> float:
    return float(spearmanr(x, y).statistic) if len(set(x)) > 1 and len(set(y)) > 1 else float("nan")


def measure(seconds: float, seeds: int) -> list[dict]:
    rows = []
    total = len(LEVELS) ** 2 * seeds
    for valence in LEVELS:
        for arousal in LEVELS:
            for seed in range(seeds):
                audio, ms = render(valence, arousal, seconds, seed)  # the measures fold channels down themselves
                row = {"valence": valence, "arousal": arousal, "seed": seed, "render_ms": ms,
                       "channels": 1 if audio.ndim == 1 else min(audio.shape)}
                for weighting in WEIGHTINGS:
                    row[f"roughness_{weighting}"] = roughness(audio, SAMPLE_RATE, weighting)
                row["mode"] = key_mode(audio, SAMPLE_RATE)
                rows.append(row)
                if sys.stderr.isatty():
                    print(f"\r  {len(rows)}/{total} clips", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return rows


def report(rows: list[dict], seconds: float) -> None:
    valence = [r["valence"] for r in rows]
    print(f"{len(rows)} clips: {len(LEVELS)}x{len(LEVELS)} grid x {len(rows) // len(LEVELS) ** 2} seeds, "
          f"{seconds:g} s at {SAMPLE_RATE} Hz, {rows[0]['channels']} channel(s) rendered")
    print()
    print("Spearman rho(roughness, target valence)   goal <= -0.5 under both weightings")
    header = f"  {'':16s}" + "".join(f"{w:>16s}" for w in WEIGHTINGS)
    print(header)
    line = f"  {'all clips':16s}"
    for weighting in WEIGHTINGS:
        line += f"{rho(valence, [r[f'roughness_{weighting}'] for r in rows]):16.3f}"
    print(line)
    for arousal in LEVELS:
        sub = [r for r in rows if r["arousal"] == arousal]
        line = f"  {f'arousal {arousal:g}':16s}"
        for weighting in WEIGHTINGS:
            line += f"{rho([r['valence'] for r in sub], [r[f'roughness_{weighting}'] for r in sub]):16.3f}"
        print(line)
    print()
    print("mean roughness per valence level")
    print(header)
    for level in LEVELS:
        sub = [r for r in rows if r["valence"] == level]
        print(f"  {f'valence {level:g}':16s}"
              + "".join(f"{np.mean([r[f'roughness_{w}'] for r in sub]):16.4f}" for w in WEIGHTINGS))
    print()
    happy = [r for r in rows if r["valence"] >= 0.75]
    sad = [r for r in rows if r["valence"] <= 0.25]
    major = 100.0 * sum(r["mode"] == "major" for r in happy) / len(happy)
    minor = 100.0 * sum(r["mode"] == "minor" for r in sad) / len(sad)
    print(f"key mode: {major:5.1f} % major at v >= 0.75 ({len(happy)} clips), "
          f"{minor:5.1f} % minor at v <= 0.25 ({len(sad)} clips)   goal >= {MODE_GOAL:g} % each")
    times = [r["render_ms"] for r in rows]
    load = os.getloadavg()
    print(f"render {seconds:g} s: median {statistics.median(times):.1f} ms, min {min(times):.1f} ms, "
          f"max {max(times):.1f} ms ({len(times)} renders; goal <= {RENDER_GOAL_MS:g} ms for 10 s on 2 cores)")
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min) on {os.cpu_count()} CPUs")


def save_presets(folder: Path, seconds: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (valence, arousal) in PRESETS.items():
        audio, _ = render(valence, arousal, seconds, seed=0)
        if audio.ndim == 2 and audio.shape[0] < audio.shape[1]:
            audio = audio.T  # WAV wants (frames, channels)
        write_wav(folder / f"{name}.wav", audio, SAMPLE_RATE)
    print(f"saved {', '.join(f'{n}.wav' for n in PRESETS)} (seed 0) to {folder}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--csv", type=Path, help="write the per-clip table here")
    parser.add_argument("--out", type=Path, help="save the four preset clips (seed 0) as WAV in this folder")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error(f"--seeds={args.seeds} must be at least 1")
    if args.seconds < 1.0:
        parser.error(f"--seconds={args.seconds} must be at least 1 (key finding needs a few chords)")

    render(0.5, 0.5, args.seconds, seed=0)  # warm caches (instrument tables, imports) before timing
    rows = measure(args.seconds, args.seeds)
    report(rows, args.seconds)
    if args.csv is not None:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {args.csv}")
    if args.out is not None:
        save_presets(args.out, args.seconds)


if __name__ == "__main__":
    main()
