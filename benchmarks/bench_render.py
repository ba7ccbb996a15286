"""Issue 12 benchmark: how long the renderers take on the same scores, SoundFont + mix beside the additive path.

    python benchmarks/bench_render.py                      # 10 s at 44.1 kHz stereo, 10 renders per preset
    python benchmarks/bench_render.py --repeats 20 --sample-rate 24000 --channels 1   # the dataset's layout
    taskset -c 0,1 python benchmarks/bench_render.py       # the project's 2-core budget on a bigger machine

Each preset's score is composed once (seed 0) and then rendered ``--repeats`` times by each path, the
paths interleaved so a change in machine load hits all of them alike:

* ``soundfont + mix``: the default timbre, ``create_musical_waveform(..., timbre="soundfont")``;
  its two halves are also timed on their own (``soundfont`` = the synth's dry bus, ``mix`` = placement
  aside, the master: brightness tilt, room, compression, loudness in LUFS, limiter);
* ``additive``: the fallback at the same layout (mono is the old RMS master; stereo goes through the mix).

Prints the median and the range per preset and path, and the load average, which the timings depend
on when the cores are shared. Goal (issue 12): SoundFont + mix of 10 s in <= 150 ms median on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a plain script from anywhere

from emovae.emotion import PRESETS  # noqa: E402
from emovae.music.compose import compose  # noqa: E402
from emovae.music.events import Voice  # noqa: E402
from emovae.music.mix import brightness_curve, master_bus, placements  # noqa: E402
from emovae.music.params import EmotionCurve  # noqa: E402
from emovae.music.soundfont import render_soundfont  # noqa: E402
from emovae.music.synth import ENSEMBLE, create_musical_waveform, gm_programs  # noqa: E402

GOAL_MS = 150.0
LOUDNESS_DB = -18.0


def paths(events, programs: dict, sample_rate: int, seconds: float, channels: int) -> dict:
    """The timed calls, each a function of nothing (the score and settings are fixed per preset)."""
    n_samples = round(seconds * sample_rate)
    bus = render_soundfont(placements(events), programs, sample_rate, n_samples)
    brightness = brightness_curve(events, sample_rate, n_samples)
    render = lambda timbre: lambda: create_musical_waveform(  # noqa: E731
        events, sample_rate, seconds, loudness_db=LOUDNESS_DB, channels=channels, timbre=timbre, programs=programs)
    return {
        "soundfont + mix": render("soundfont"),
        "  soundfont": lambda: render_soundfont(placements(events), programs, sample_rate, n_samples),
        "  mix": lambda: master_bus(bus, sample_rate, LOUDNESS_DB, channels, brightness),
        "additive": render("additive"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--sample-rate", type=int, default=44_100)
    parser.add_argument("--channels", type=int, choices=(1, 2), default=2)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats={args.repeats} must be at least 1")

    print(f"{args.seconds:g} s at {args.sample_rate} Hz, {args.channels} channel(s), median of {args.repeats} "
          f"renders per preset and path (ms)")
    print(f"  {'preset':8s} {'path':18s} {'median':>8s} {'min':>8s} {'max':>8s}")
    all_times: dict[str, list[float]] = {}
    for name, (valence, arousal) in PRESETS.items():
        score = compose(EmotionCurve(valence, arousal, args.seconds), seed=0)
        programs = {**gm_programs(ENSEMBLE), Voice.PERCUSSION: score.drum_kit}
        calls = paths(score.events, programs, args.sample_rate, args.seconds, args.channels)
        times: dict[str, list[float]] = {label: [] for label in calls}
        for call in calls.values():
            call()  # warm: the SoundFont's load and its presets' levels are cached after the first render
        for _ in range(args.repeats):
            for label, call in calls.items():
                start = time.perf_counter()
                call()
                times[label].append(1000.0 * (time.perf_counter() - start))
        for label, values in times.items():
            all_times.setdefault(label, []).extend(values)
            print(f"  {name:8s} {label:18s} {statistics.median(values):8.1f} {min(values):8.1f} {max(values):8.1f}")
    print("  all presets")
    for label, values in all_times.items():
        print(f"  {'':8s} {label:18s} {statistics.median(values):8.1f} {min(values):8.1f} {max(values):8.1f}")
    load = os.getloadavg()
    print(f"goal: soundfont + mix <= {GOAL_MS:g} ms for 10 s on 2 cores; load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f} (1/5/15 min) on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
