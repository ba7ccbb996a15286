"""Audio analysis (base layer): what music *does*, measured with librosa, with no model and no emotion.

    descriptors  per-second musical descriptors of a clip (tempo, onset density, loudness,
                 brightness, mode, register, articulation, percussiveness, tension): the targets
                 the score decoder learns to read off latents, and what the engine is calibrated on
"""

from emovae.analysis.descriptors import DESCRIPTOR_NAMES, WINDOW_SECONDS, describe, key_fit

__all__ = ["DESCRIPTOR_NAMES", "WINDOW_SECONDS", "describe", "key_fit"]
