"""App speed: start-to-ready and server-side generate time (run by hand, prints figures).

    python benchmarks/bench_app.py                 # uses checkpoints/demo/ (the shipped bundle)
    python benchmarks/bench_app.py --bundle DIR    # another bundle folder

Targets (issue 6): app start to ready <= 10 s; a generate request <= 300 ms server side for 10 s of
synth audio. "Ready" means the HTTP server answers and the first screen's clip is rendered (the app
renders it while building the page). "Server side" is the /generate handler (validate, sample,
render, write the WAV), timed in-process; the HTTP round trip through gradio_client is printed
alongside for context.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    from emovae.app.settings import AppSettings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=None, help="bundle folder (default: checkpoints/demo)")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    t0 = time.perf_counter()
    import app as app_module  # gradio, torch, librosa imports are part of start-up

    settings = AppSettings.from_env(port=free_port())
    if args.bundle is not None:
        settings = AppSettings(port=settings.port, bundle_dir=args.bundle.resolve(), cache_dir=settings.cache_dir)
    demo, ctx = app_module.create_app(settings)
    demo.launch(prevent_thread_lock=True, quiet=True, **app_module.launch_kwargs(settings))
    url = f"http://127.0.0.1:{settings.port}/"
    urllib.request.urlopen(url, timeout=30).read()
    ready = time.perf_counter() - t0
    if ctx.bundle is None:
        raise SystemExit(f"no bundle: {ctx.bundle_error}")

    handler_ms = []
    for seed in range(args.repeats):
        t = time.perf_counter()
        ctx.generation.generate_outputs("demo", "single emotion", 0.8, 0.7, 0.5, 0.5, "synth", 10, seed, 1.0)
        handler_ms.append(1e3 * (time.perf_counter() - t))

    from gradio_client import Client

    client = Client(url, verbose=False)
    http_ms = []
    for seed in range(args.repeats):
        t = time.perf_counter()
        client.predict("single emotion", 0.2, 0.3, 0.5, 0.5, "synth", 10, seed, 1.0, api_name="/generate")
        http_ms.append(1e3 * (time.perf_counter() - t))
    demo.close()

    print(f"bundle: {settings.bundle_dir}")
    print(f"app start to ready:                {ready:6.2f} s   (target <= 10 s)")
    print(f"generate 10 s synth, server side:  median {statistics.median(handler_ms):6.1f} ms, "
          f"max {max(handler_ms):6.1f} ms over {args.repeats} (target <= 300 ms)")
    print(f"generate 10 s synth, HTTP client:  median {statistics.median(http_ms):6.1f} ms (incl. queue + file transfer)")


if __name__ == "__main__":
    main()
