"""Evaluation: everything that judges the model and the music, kept apart from the stages it judges.

    features    librosa clip features the emotion estimator reads
    estimator   EmotionEstimator: audio -> (valence, arousal), fitted on training songs only
    probe       latent emotion probe (fitted on training songs, ceiling on test songs, then judges generations)
    frechet     Fréchet distance of generated vs real latents per emotion quadrant, against real vs real
    ablations   noise latents and shuffled conditions: what a claim of control must not survive
    control     the emotion-control measurement over a grid of targets (Spearman rho, preset quadrants)
    dissonance  Plomp-Levelt roughness (two weightings) and major/minor key mode of audio (issue 12)
"""

from emovae.eval.ablations import ABLATIONS, noise_latent, shuffled_emotion, validate_ablation
from emovae.eval.dissonance import key_mode, roughness, roughness_curve
from emovae.eval.estimator import EmotionEstimator, fit_estimator_from_chunks

__all__ = [
    "ABLATIONS",
    "EmotionEstimator",
    "fit_estimator_from_chunks",
    "key_mode",
    "noise_latent",
    "roughness",
    "roughness_curve",
    "shuffled_emotion",
    "validate_ablation",
]
