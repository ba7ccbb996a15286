"""Generate emotion-conditioned music from a trained VAE checkpoint.

    python -m pipeline.generate --checkpoint vae_model/best.pt --emotion happy --renderer synth \\
        --seconds 10 --seed 0 --temperature 1.0 --out generated/
    python -m pipeline.generate --checkpoint vae_model/best.pt --emotion sad --to happy   # a trajectory
    python -m pipeline.generate --checkpoint vae_model/best.pt --all-presets              # + comparison figure
    python -m pipeline.generate --checkpoint vae_model/best.pt --all-presets --ablation noise --save-latent
    python -m pipeline.generate --checkpoint vae_model/best.pt --emotion calm --midi       # + calm_synth_seed0.mid
    python -m pipeline.generate --checkpoint vae_model/best.pt --soundfont ~/sf2/FluidR3_GM.sf2   # another GM SoundFont

Renderers: synth (the engine plays what the score decoder reads off the VAE's latent), rules (the
no-model baseline: hand-written emotion -> music rules), neural (EnCodec decoder). --ablation noise
renders white-noise latents with the training latents' per-channel statistics instead of the VAE's
sample; --ablation shuffled samples the VAE at a random other emotion and labels it with the one asked.
--midi also saves each piece's score as a Standard MIDI File beside its .wav (one track per voice,
tempo map and key signatures, as long as the audio); synth and rules only, as neural has no score.

synth and rules write 44.1 kHz stereo for listening, on a General MIDI SoundFont: --soundfont PATH,
else $EMOVAE_SOUNDFONT, else the one pretty_midi bundles. --timbre auto (default) falls back to the
additive instruments, with a warning, when no SoundFont can be played; soundfont insists on one;
additive never loads one. A --soundfont that is missing or unreadable stops the run before any work.
neural writes the codec's 24 kHz mono. Each sidecar records sample_rate, channels and the timbre.

--emotion takes a preset (happy, angry, sad, calm) or "V,A" on the [0, 1] scale. The same arguments
and seed give the same audio on the same kind of device; re-running skips pieces already written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emovae.emotion import PRESETS, EmotionValueError
from emovae.generate.generator import GenerationRequest
from emovae.generate.listening import ListeningSettings
from emovae.eval.ablations import ABLATIONS
from emovae.generate.render import RENDERER_HELP, RENDERERS
from emovae.generate.sampler import MAX_GUIDANCE, MAX_SECONDS, MAX_TEMPERATURE
from emovae.generate.stage import GenerationResult, GenerationStageConfig, run_generation
from emovae.music.synth import TIMBRES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.generate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True, help="VAE checkpoint (e.g. vae_model/best.pt)")
    parser.add_argument("--emotion", nargs="+", default=["happy"], help=f"one or more of {', '.join(PRESETS)} or V,A in [0, 1] (default: happy)")
    parser.add_argument("--to", default=None, help="end emotion: the piece moves smoothly from --emotion to this (preset or V,A)")
    parser.add_argument("--all-presets", action="store_true", help="render the four presets and their comparison figure")
    parser.add_argument("--renderer", choices=RENDERERS, default="synth", help="; ".join(f"{k}: {v}" for k, v in RENDERER_HELP.items()) + " (default: synth)")
    parser.add_argument("--ablation", choices=ABLATIONS, default="none", help="replace the VAE's sample: noise latents or a shuffled condition (default: none)")
    parser.add_argument("--save-latent", action="store_true", help="also write the rendered latent as <name>.npy beside the .wav")
    parser.add_argument("--midi", action="store_true", help="also write the piece's score as <name>.mid beside the .wav (synth and rules)")
    parser.add_argument("--style", choices=("ensemble", "piano"), default="ensemble", help="synth arrangement (default: ensemble)")
    parser.add_argument("--timbre", choices=TIMBRES, default="auto",
                        help="synth and rules: General MIDI SoundFont, additive instruments, or auto (the SoundFont, "
                             "else the additive ones) (default: auto)")
    parser.add_argument("--soundfont", type=Path, default=None,
                        help="synth and rules: the .sf2 to play (default: $EMOVAE_SOUNDFONT, else pretty_midi's TimGM6mb.sf2)")
    parser.add_argument("--seconds", type=float, default=10.0, help=f"length in seconds, (0, {MAX_SECONDS:g}] (default: 10)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--temperature", type=float, default=1.0, help=f"prior temperature, [0, {MAX_TEMPERATURE:g}] (default: 1.0)")
    parser.add_argument("--guidance", type=float, default=None, help=f"classifier-free guidance scale, [0, {MAX_GUIDANCE:g}] (default: the checkpoint's)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument("--codec-weights", default=None, help="neural renderer: override the codec weights (path, pretrained or random)")
    parser.add_argument("--estimator", type=Path, default=None, help="estimator JSON: record each piece's estimated emotion")
    parser.add_argument("--out", type=Path, default=Path("generated"), help="output folder (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="re-render pieces that already exist")
    return parser.parse_args(argv)


def print_summary(result: GenerationResult) -> None:
    print(f"{len(result.pieces)} piece(s) in {result.out_dir} ({result.wall_seconds:.1f} s)")
    for piece in result.pieces:
        info = piece.info
        estimate = info.get("estimated_emotion")
        target = "V={:.2f} A={:.2f}".format(*info["emotion"]) + (" -> V={:.2f} A={:.2f}".format(*info["to"]) if info.get("to") else "")
        extra = "  estimated V={:.2f} A={:.2f}".format(*estimate) if estimate else ""
        midi = f" + {piece.midi.name}" if piece.midi is not None else ""
        print(f"  {piece.wav.name}{midi}: {target}{extra}{'  (already there)' if piece.resumed else ''}")
    if result.figure is not None:
        print(f"  figure: {result.figure}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    piece = GenerationRequest(checkpoint=args.checkpoint, to=args.to, renderer=args.renderer, seconds=args.seconds,
                              seed=args.seed, temperature=args.temperature, device=args.device,
                              codec_weights=args.codec_weights, synth_style=args.style, ablation=args.ablation,
                              guidance=args.guidance, listening=ListeningSettings(timbre=args.timbre, soundfont=args.soundfont))
    config = GenerationStageConfig(piece=piece, out_dir=args.out, emotions=tuple(args.emotion),
                                   all_presets=args.all_presets, estimator=args.estimator, save_latent=args.save_latent,
                                   midi=args.midi, overwrite=args.overwrite)
    try:
        result = run_generation(config)
    except (EmotionValueError, ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_summary(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
