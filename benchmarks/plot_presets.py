"""Spectrograms of the four preset clips, before vs after an engine change (issue 12's figure).

    python benchmarks/bench_engine.py --out /work/presets_before     # on the old engine
    python benchmarks/bench_engine.py --out /work/presets_after      # on the new engine
    python benchmarks/plot_presets.py --before /work/presets_before --after /work/presets_after \\
        --out docs/figures/presets_before_after.png

Each folder holds ``happy.wav``, ``angry.wav``, ``sad.wav`` and ``calm.wav`` (what ``bench_engine.py
--out`` writes). The figure is a grid: one row per folder, one column per preset, log-frequency
spectrograms on a shared dB scale, so a change in register, density or brightness reads at a glance.
Without ``--after`` only the "before" row is drawn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a plain script from anywhere

from emovae.audio import load_audio  # noqa: E402
from emovae.emotion import PRESETS  # noqa: E402

SAMPLE_RATE = 22_050  # spectrograms to ~11 kHz: all that a log-frequency axis of music shows
N_FFT, HOP = 2048, 512
DB_RANGE = 80.0


def spectrogram_db(path: Path) -> np.ndarray:
    """Power spectrogram in dB re. its own maximum (each clip on the same relative scale)."""
    import librosa

    y = load_audio(path, SAMPLE_RATE)
    power = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2
    return librosa.power_to_db(power, ref=np.max, top_db=DB_RANGE)


def plot(rows: list[tuple[str, Path]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import librosa.display
    import matplotlib.pyplot as plt

    for label, folder in rows:
        missing = [f"{name}.wav" for name in PRESETS if not (folder / f"{name}.wav").is_file()]
        if missing:
            raise SystemExit(f"--{label} {folder}: missing {', '.join(missing)} (write them with bench_engine.py --out)")
    fig, axes = plt.subplots(len(rows), len(PRESETS), figsize=(4.0 * len(PRESETS), 3.2 * len(rows)),
                             sharex=True, sharey=True, squeeze=False, constrained_layout=True)
    image = None
    for r, (label, folder) in enumerate(rows):
        for c, (name, (valence, arousal)) in enumerate(PRESETS.items()):
            ax = axes[r, c]
            image = librosa.display.specshow(spectrogram_db(folder / f"{name}.wav"), sr=SAMPLE_RATE, hop_length=HOP,
                                             x_axis="time", y_axis="log", ax=ax, vmin=-DB_RANGE, vmax=0.0,
                                             cmap="magma")
            ax.set_ylim(32.0, SAMPLE_RATE / 2)  # below ~32 Hz a log axis shows only the DC bins
            ax.set_title(f"{label}: {name} (v={valence:g}, a={arousal:g})", fontsize=10)
            if c:
                ax.set_ylabel("")
            if r < len(rows) - 1:
                ax.set_xlabel("")
    fig.colorbar(image, ax=axes, format="%+.0f dB", shrink=0.8, label="dB re. clip maximum")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="folder with the old engine's preset WAVs")
    parser.add_argument("--after", type=Path, help="folder with the new engine's preset WAVs")
    parser.add_argument("--out", type=Path, default=Path("docs/figures/presets_before_after.png"))
    args = parser.parse_args()
    rows = [("before", args.before)] + ([("after", args.after)] if args.after is not None else [])
    plot(rows, args.out)


if __name__ == "__main__":
    main()
