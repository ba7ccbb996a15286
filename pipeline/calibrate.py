"""Re-fit the engine calibration (descriptors -> engine knobs) after changing the music engine.

    python -m pipeline.calibrate                      # writes emovae/music/calibration.json
    python -m pipeline.calibrate --pieces 320 --out /tmp/calibration.json

Renders random knob settings with the engine, describes them with the same librosa code the score
decoder is trained on, and fits the inverse (see emovae/music/calibration.py). ~40 s on 2 cores.
tests/test_calibration.py fails while the shipped file does not match the engine's code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm.auto import tqdm

from emovae.music.calibration import CALIBRATION_FILE, fit_calibration


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.calibrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pieces", type=int, default=320, help="random settings to render (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each piece (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=CALIBRATION_FILE, help="output JSON (default: the shipped file)")
    args = parser.parse_args(argv)
    if args.pieces < 20:
        print("error: --pieces must be at least 20 (5-fold cross-validation needs a few per fold)", file=sys.stderr)
        return 2
    with tqdm(total=args.pieces, desc="calibrate", unit="piece") as bar:
        calibration = fit_calibration(args.pieces, args.seconds, args.seed, progress=lambda done, total, _: bar.update(1))
    calibration.save(args.out)
    print(f"wrote {args.out} (fingerprint {calibration.fingerprint}); cross-validated R^2 per knob:")
    for name, r2 in calibration.training["cv_r2"].items():
        print(f"  {name:13s} {r2:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
