"""Does data-parallel training (torchrun, DDP, gloo) reach what one process reaches? Same latents, same flags.

    python -m pipeline.run_all --demo --encodec-weights random --work /tmp/demo     # or any encode output
    nice python benchmarks/bench_train_parallel.py --latents /tmp/demo/latent_representations --work /tmp/bench_ddp

Trains the demo VAE (``--epochs 40 --batch-size 16``, the bundle's settings) once in one process and once
as ``torchrun --standalone --nproc_per_node N`` (``--batch-size`` is the global batch in both), and prints
wall time, the validation MSE of each run's ``best.pt`` (``metrics.json``) and their ratio; the goal is
a DDP run within 5 % of the single process. The load average is printed (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train(command: list[str], out: Path, env: dict[str, str]) -> tuple[float, dict]:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run(command + ["--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, json.loads((out / "metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latents", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    flags = ["-m", "pipeline.train", "--latents", str(args.latents), "--epochs", str(args.epochs),
             "--batch-size", str(args.batch_size), "--seed", "0"]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}"]
    print(f"load average before: {os.getloadavg()}")
    single_s, single = train([sys.executable, *flags], args.work / "single", env)
    print(f"1 process : {single_s:6.1f} s, best val MSE {single['val_mse']:.4f}  (load {os.getloadavg()[0]:.2f})")
    ddp_s, ddp = train(launcher + flags, args.work / f"ddp{args.nproc}", {**env, "OMP_NUM_THREADS": "1"})
    print(f"{args.nproc} processes: {ddp_s:6.1f} s, best val MSE {ddp['val_mse']:.4f}  (load {os.getloadavg()[0]:.2f})")
    print(f"DDP / single val MSE: {ddp['val_mse'] / single['val_mse']:.3f} (goal within 5 %: 0.95-1.05; "
          f"baseline 'each channel's mean' {single['baseline_mse']:.4f})")


if __name__ == "__main__":
    main()
