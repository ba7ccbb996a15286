"""How readable the engine's emotion is, in half a minute: a screen for engine changes before a rebuild.

A change to the music engine is judged in the end by rebuilding the demo bundle (~5 min) and running
benchmarks/bench_emotion_control.py on it. This script answers the first question of that run, for
the ``rules`` renderer, in ~30 s on 2 cores, so that an idea can be tried before paying for a rebuild:

1. render the demo songs as the demo dataset does (same plan, seeds and emotion curves;
   ``create_melodic_music`` at 24 kHz mono, without the MP3 round trip);
2. cut 5 s chunks labelled by the preprocessing's own rule on the song's DEAM annotations (the static
   label before 15 s, the mean of the half-second ratings after);
3. fit the project's estimator on the training songs of the pipeline's own split
   (:func:`emovae.train.dataset.split_by_song`, the training defaults) and report its R^2 on the
   test songs;
4. judge a 5 x 5 grid x ``--grid-seeds`` of 10 s ``rules`` clips as a listener gets them (44.1 kHz
   stereo): Spearman rho per axis, and the mean valence read in each cell (rows valence, columns
   arousal), which shows *where* valence is misread.

It is a screen, not a result: the figures to report come from the rebuilt bundle.

    python benchmarks/bench_readability.py
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from emovae.data.demo import DemoSong, plan_demo_songs  # noqa: E402
from emovae.data.labels import SongAnnotations, chunk_windows, label_window  # noqa: E402
from emovae.eval.estimator import EmotionEstimator  # noqa: E402
from emovae.eval.features import extract_features  # noqa: E402
from emovae.music import create_melodic_music  # noqa: E402
from emovae.music.params import EmotionCurve  # noqa: E402
from emovae.music.synth import render_piece  # noqa: E402
from emovae.train.config import TrainConfig  # noqa: E402
from emovae.train.dataset import split_by_song  # noqa: E402

CHUNK_RATE = 24_000
CHUNK_S = 5


def song_chunks(song: DemoSong) -> list[tuple[int, float, float, np.ndarray]]:
    """(song id, valence label, arousal label, features) of each whole 5 s chunk of one demo song, labelled
    by the preprocessing's own rule (:func:`emovae.data.labels.label_window`) on the song's DEAM annotations."""
    audio = np.asarray(create_melodic_music(np.asarray(song.valence), np.asarray(song.arousal), song.seconds,
                                            seed=song.seed, sample_rate=CHUNK_RATE))
    times = song.dynamic_times()
    annotations = SongAnnotations(song.song_id, (float(np.mean(song.valence)), float(np.mean(song.arousal))),
                                  times, *song.at(times))
    rows = []
    for start, end in chunk_windows(song.seconds, CHUNK_S):
        label = label_window(annotations, start, end)
        clip = audio[int(start) * CHUNK_RATE:int(end) * CHUNK_RATE]
        rows.append((song.song_id, label.valence, label.arousal, extract_features(clip, CHUNK_RATE)))
    return rows


def grid_features(cell: tuple[float, float, int]) -> np.ndarray:
    valence, arousal, seed = cell
    piece = render_piece(EmotionCurve(valence, arousal, 10.0), seed=seed, sample_rate=44_100, channels=2)
    return extract_features(piece.audio, 44_100)


def r2(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(1.0 - np.sum((truth - predicted) ** 2) / np.sum((truth - truth.mean()) ** 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=40, help="demo songs (the demo bundle's 40)")
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--seed", type=int, default=0, help="demo plan and split seed (the bundle's 0)")
    parser.add_argument("--grid-seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    songs = plan_demo_songs(args.songs, args.seconds, args.seed)
    grid = [(v, a, s) for v in np.linspace(0, 1, 5) for a in np.linspace(0, 1, 5) for s in args.grid_seeds]
    with ProcessPoolExecutor(args.workers) as pool:
        chunks = [row for rows in pool.map(song_chunks, songs) for row in rows]
        grid_x = np.array(list(pool.map(grid_features, grid, chunksize=8)))

    defaults = TrainConfig()
    split = split_by_song(pd.DataFrame({"song_id": [row[0] for row in chunks]}), defaults.val_fraction, args.seed,
                          defaults.test_fraction)
    train = [row for row in chunks if row[0] in set(split.train_songs)]
    test = [row for row in chunks if row[0] in set(split.test_songs)]
    estimator = EmotionEstimator().fit_features(np.array([r[3] for r in train]), [r[1] for r in train], [r[2] for r in train])
    test_read = estimator.predict_features(np.array([r[3] for r in test]))
    read = estimator.predict_features(grid_x)
    valence, arousal = np.array([c[0] for c in grid]), np.array([c[1] for c in grid])
    print(f"estimator on {len(train)} chunks of {len(split.train_songs)} training songs; test songs "
          f"({len(test)} chunks): R^2 valence {r2(np.array([r[1] for r in test]), test_read[:, 0]):.3f}, "
          f"arousal {r2(np.array([r[2] for r in test]), test_read[:, 1]):.3f}")
    print(f"rules grid (5 x 5 x {len(args.grid_seeds)} seeds): rho valence {spearmanr(valence, read[:, 0])[0]:.3f}, "
          f"arousal {spearmanr(arousal, read[:, 1])[0]:.3f}")
    print("valence read per cell (rows: target valence; columns: arousal 0 .. 1)")
    for v in np.unique(valence):
        cells = [read[(valence == v) & (arousal == a), 0].mean() for a in np.unique(arousal)]
        print(f"  v={v:.2f}  " + "  ".join(f"{x:.2f}" for x in cells))


if __name__ == "__main__":
    main()
