"""App speed: start to serving, first Dataset-tab open, playing a chunk, a generate request (run by hand).

    python benchmarks/bench_app.py                 # uses checkpoints/demo/ (the shipped bundle)
    python benchmarks/bench_app.py --bundle DIR    # another bundle folder

Targets (issue 14): start -> serving <= 6 s; first Dataset-tab open on an empty app cache <= 5 s;
playing a chunk <= 1 s; a generate request <= 300 ms server side for 10 s of synth audio.

Start-up is measured in fresh processes (imports are part of it), twice on one new app cache: the
**first start of a host** (empty cache: the warm-up renders the first clip after the server
serves) and a **restart** (the first clip comes from the cache and is in the page). "Serving" means
the HTTP server answers with the page; "first clip" means the page-load handler has the clip.
Each child prints where its time went (imports, services, page build, launch, warm-up).
The other figures are timed in-process on a warm app with its own empty cache: "server side" is the
handler (validate, sample, render, write the WAV); the HTTP round trip is printed alongside.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_once(bundle: str | None, cache: str) -> dict:
    """One app start in this (fresh) process: phase times in seconds since the first import."""
    t0 = time.perf_counter()
    phases = {}

    def lap(name: str) -> None:
        phases[name] = round(time.perf_counter() - t0, 2)

    import gradio  # noqa: F401

    lap("import gradio")
    import app as app_module

    lap("import app")
    from emovae.app.settings import AppSettings

    settings = AppSettings(port=free_port(), cache_dir=Path(cache),
                           **({"bundle_dir": Path(bundle).resolve()} if bundle else {}))
    in_page = any((Path(cache) / "first-clip").glob("*.json"))
    demo, services = app_module.create_app(settings)
    lap("services + page built")
    phases["torch imported by then"] = "torch" in sys.modules
    app_module.serve(demo, services, settings, prevent_thread_lock=True, quiet=True)
    urllib.request.urlopen(f"http://127.0.0.1:{settings.port}/", timeout=60).read()
    lap("serving")
    screen = services.first_screen()
    lap("first clip ready")
    phases["first clip in the page"] = in_page and screen is not None
    demo.close()
    return phases


def child(bundle: str | None, cache: str) -> dict:
    cmd = [sys.executable, __file__, "--child", cache] + (["--bundle", bundle] if bundle else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default=None, help="bundle folder (default: checkpoints/demo)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--starts", type=int, default=3,
                        help="fresh starts of each kind (one start varies by a second on 2 cores; the median is reported)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(start_once(args.bundle, args.child)))
        return

    print(f"load average before: {os.getloadavg()[0]:.2f} (2-core budget)")
    firsts, restarts = [], []
    for _ in range(max(1, args.starts)):  # each pair on a new app cache: a host's first start, then a restart
        with tempfile.TemporaryDirectory(prefix="emovae-bench-") as cache:
            firsts.append(child(args.bundle, cache))
            restarts.append(child(args.bundle, cache))
    for name, runs in (("first start (empty cache)", firsts), ("restart", restarts)):
        for phases in runs:
            print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in phases.items()))

    def median(runs: list[dict], key: str) -> str:
        values = sorted(float(run[key]) for run in runs)
        return f"median {statistics.median(values):5.2f} s (of {', '.join(f'{v:.2f}' for v in values)})"

    print(f"start -> serving:    first start {median(firsts, 'serving')}, restart {median(restarts, 'serving')} (target <= 6 s)")
    print(f"start -> first clip: first start {median(firsts, 'first clip ready')}, restart {median(restarts, 'first clip ready')}")

    import app as app_module
    from emovae.app.settings import AppSettings

    with tempfile.TemporaryDirectory(prefix="emovae-bench-") as cache:
        settings = AppSettings(port=free_port(), cache_dir=Path(cache),
                               **({"bundle_dir": Path(args.bundle).resolve()} if args.bundle else {}))
        demo, services = app_module.create_app(settings)
        app_module.serve(demo, services, settings, prevent_thread_lock=True, quiet=True)
        url = f"http://127.0.0.1:{settings.port}/"
        if services.first_screen() is None:
            raise SystemExit(f"the demo does not generate: {services.bundle_error}")

        t = time.perf_counter()
        key, *_ = services.dataset.open_outputs("demo", services.dataset.default_chunk_seconds)
        open_s = time.perf_counter() - t
        view = services.dataset.view(key)
        play_ms = []
        for chunk_id in view.chunks["chunk_id"].iloc[[0, 1, 12, 13, 30]]:  # new songs render, their neighbours reuse
            t = time.perf_counter()
            services.dataset.play_chunk(key, chunk_id)
            play_ms.append(1e3 * (time.perf_counter() - t))
        print(f"first Dataset-tab open, empty cache: {open_s:5.2f} s for {len(view.chunks)} chunks (target <= 5 s)")
        print(f"play a chunk: " + ", ".join(f"{ms:.0f}" for ms in play_ms) + " ms (first of a song renders it; target <= 1 s)")

        handler_ms = []
        for seed in range(args.repeats):
            t = time.perf_counter()
            services.generation.generate_outputs("demo", "single emotion", 0.8, 0.7, 0.5, 0.5, "synth", 10, seed, 1.0)
            handler_ms.append(1e3 * (time.perf_counter() - t))

        from gradio_client import Client

        client = Client(url, verbose=False)
        http_ms = []
        for seed in range(args.repeats):
            t = time.perf_counter()
            client.predict("single emotion", 0.2, 0.3, 0.5, 0.5, "synth", 10, seed, 1.0, api_name="/generate")
            http_ms.append(1e3 * (time.perf_counter() - t))
        demo.close()
    print(f"generate 10 s synth, server side:  median {statistics.median(handler_ms):6.1f} ms, "
          f"max {max(handler_ms):6.1f} ms over {args.repeats} (target <= 300 ms)")
    print(f"generate 10 s synth, HTTP client:  median {statistics.median(http_ms):6.1f} ms (incl. queue + file transfer)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
