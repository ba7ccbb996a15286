"""Train the conditional VAE on encoded latents.

    python -m pipeline.train --latents latent_representations --out vae_model --chunk-seconds 5
    python -m pipeline.train --out vae_model --resume          # continue an interrupted run exactly
    torchrun --nproc_per_node 2 -m pipeline.train ...          # data-parallel (DDP); --batch-size stays global

Settings: defaults < --config file.json < explicit flags (with --resume the saved run's settings are
the base instead of the defaults).
"""

from __future__ import annotations

import argparse
import sys

from emovae.device import resolve_device
from emovae.distributed import DEFAULT_TIMEOUT_S, DistEnv, backend_for, cores_per_process, process_group
from emovae.train import TqdmCallback, TrainConfig, resume_config, train


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m pipeline.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--latents", help="folder with latents_<S>s.npy, labels_<S>s.csv, codec_<S>s.json")
    p.add_argument("--out", help="run folder (checkpoints, history, figures)")
    p.add_argument("--chunk-seconds", type=int, choices=(5, 10))
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--epochs", type=int)
    p.add_argument("--beta", type=float, help="KL weight after warm-up")
    p.add_argument("--kl-warmup", type=float, help="epochs of linear KL warm-up")
    p.add_argument("--free-bits", type=float)
    p.add_argument("--cond-dropout", type=float, help="fraction of chunks trained without their condition (guidance)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale recorded for generation and evaluation")
    p.add_argument("--emotion-weight", type=float, help="weight of the emotion head's term on the VAE's own samples (0 = off)")
    p.add_argument("--descriptor-weight", type=float,
                   help="weight of the score decoder's reading of the VAE's own samples (needs --chunks; 0 = off)")
    p.add_argument("--ema-decay", type=float,
                   help="decay of the per-step moving average of the weights that best.pt ships (0 = the trained weights)")
    p.add_argument("--prior-fit", type=float, help="weight of the conditional prior's own likelihood term (0 = off)")
    p.add_argument("--val-fraction", type=float, help="fraction of songs held out for validation (picks best.pt)")
    p.add_argument("--test-fraction", type=float, help="fraction of songs held out from everything fitted or chosen")
    p.add_argument("--chunks", help="the preprocess output the latents came from: its audio trains the score decoder "
                                    "(needed by the synth renderer)")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", dest="num_threads", type=int, help="torch CPU threads")
    p.add_argument("--device", help="auto | cpu | cuda[:N]")
    p.add_argument("--config", help="JSON file of TrainConfig settings (see emovae/train/config.py)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out/last.pt")
    p.add_argument("--dist-timeout", type=float, default=DEFAULT_TIMEOUT_S,
                   help="under torchrun: seconds a collective waits for a missing rank before the run fails")
    return p.parse_args(argv)


def build_config(args: argparse.Namespace) -> TrainConfig:
    if args.resume:
        base = resume_config(args.out or TrainConfig().out)
    else:
        base = TrainConfig.from_json(args.config) if args.config else TrainConfig()
    flags = {k: v for k, v in vars(args).items() if k not in ("config", "resume", "dist_timeout")}
    return base.with_overrides(**flags, resume=args.resume or None)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = DistEnv.from_environ()
    try:
        config = build_config(args)
        if env.active and config.num_threads is None:  # torchrun's default is 1 thread; use this rank's share
            config = config.with_overrides(num_threads=cores_per_process(env))
        with process_group(env, backend_for(resolve_device(config.device)), args.dist_timeout):
            result = train(config, callbacks=[TqdmCallback()])
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not env.is_main:
        return 0  # rank 0 reports (and wrote every file)
    if result.stopped:
        print(f"stopped after {result.epochs_completed} epoch(s); continue with --resume --out {result.out_dir}")
        return 0
    m = result.metrics
    cond = m["conditioning"]
    print(f"trained {result.epochs_completed} epochs -> {result.out_dir} (best epoch {result.best_epoch})")
    print(f"val MSE {m['val_mse']:.4f} vs per-channel-mean baseline {m['baseline_mse']:.4f} "
          f"(ratio {m['mse_ratio']:.3f})")
    print(f"emotion control (Spearman rho on generated 5x5 grid): valence {cond['rho_valence']:.2f}, "
          f"arousal {cond['rho_arousal']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
