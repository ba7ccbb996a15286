"""The background pretrained-codec demo build at demo size (run by hand; about 5 minutes on 2 cores).

    python benchmarks/bench_pretrained.py                      # stand-in weights (no network needed)
    EMOVAE_ENCODEC_WEIGHTS=/path/encodec_24khz-d7cc33bc.th python benchmarks/bench_pretrained.py --real

Target (issue 14): the build the app starts where EnCodec's weights can be had — demo dataset (40
songs x 45 s), preprocess, encode, train (40 epochs, batch 16), estimator, presets — finishes in
<= 6 min on 2 cores, the default checkpoint switches to it, and ``neural`` decodes with that codec.
Runs on a fresh app cache, so the demo dataset's generation is included (on a host that already
generated it for a training run, the build is that much shorter).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", action="store_true", help="use $EMOVAE_ENCODEC_WEIGHTS as it is (the real file)")
    args = parser.parse_args()

    from emovae.app.root import AppServices
    from emovae.app.settings import AppSettings
    from emovae.codec.weights import save_stand_in_weights

    print(f"load average before: {os.getloadavg()[0]:.2f} (2-core budget)")
    with tempfile.TemporaryDirectory(prefix="emovae-bench-") as tmp:
        if not args.real:
            os.environ["EMOVAE_ENCODEC_WEIGHTS"] = str(save_stand_in_weights(Path(tmp) / "stand-in.th"))
        services = AppServices.create(AppSettings(cache_dir=Path(tmp) / "cache", auto_pretrained=True))
        shipped = services.bundle.codec_identity["codec_id"]
        started = time.perf_counter()
        services.pretrained.start()
        last = ""
        while services.pretrained.status.active:
            if services.pretrained.status.message != last:
                last = services.pretrained.status.message
                print(f"{time.perf_counter() - started:6.0f} s  {last}", flush=True)
            time.sleep(1.0)
        took = time.perf_counter() - started
        status = services.pretrained.status
        print(f"build: {status.state} in {took / 60:.1f} min (target <= 6 min): {status.message}")
        if status.state != "ready":
            raise SystemExit(1)
        clip = services.generation.generate("demo", 0.8, 0.8, seconds=10, renderer="neural")
        print(f"default switched: {shipped} -> {services.bundle.codec_identity['codec_id']}; neural decodes with "
              f"{clip.info['codec_id']}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
