"""Instrument recipes for the additive renderer: which partials, how they decay, how notes start and stop.

An :class:`Instrument` is a small, declarative timbre description; :mod:`emovae.music.render`
turns it into sound. Per-note ``brightness`` (from the emotion) lifts the upper partials, so the
spectral centroid follows arousal and valence without changing the recipe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Instrument:
    """A timbre for pitched notes.

    ``partials``: number of partials (fewer for accompaniment keeps rendering fast);
    ``rolloff``: partial ``k`` has amplitude ``k ** -rolloff`` before brightness;
    ``odd_only``: keep odd harmonics only (hollow, clarinet/triangle-like);
    ``inharmonicity``: stiffness coefficient B at middle C (piano strings: partial k sits at
    ``k * f0 * sqrt(1 + B k^2)``), 0 for a harmonic oscillator; grows towards the treble;
    ``decay_s``: time constant of the fundamental's exponential decay at middle C (None = sustained),
    shorter for higher notes; ``partial_decay``: how much faster each higher partial decays;
    ``release_s``: linear fade after note-off (dampers), which also guarantees a click-free end;
    ``attack_scale``: multiplies the emotion's attack time (a piano's hammer is always quick);
    ``hammer``: level of the short filtered-noise thump at the onset;
    ``hammer_position``: striking point as a fraction of string length (notches partials ``k`` that
    are multiples of ``1 / hammer_position``), None for none.
    """

    name: str
    partials: int
    rolloff: float
    odd_only: bool = False
    inharmonicity: float = 0.0
    decay_s: float | None = None
    partial_decay: float = 0.0
    release_s: float = 0.08
    attack_scale: float = 1.0
    attack_max_s: float = 0.2
    hammer: float = 0.0
    hammer_position: float | None = None

    def partial_weights(self) -> np.ndarray:
        """Relative amplitude of each partial (before brightness)."""
        k = np.arange(1, self.partials + 1, dtype=float)
        weights = k**-self.rolloff
        if self.odd_only:
            weights[1::2] = 0.0
        if self.hammer_position:
            weights *= np.abs(np.sin(np.pi * k * self.hammer_position)) + 0.05
        return weights / weights[0]


PIANO = Instrument(
    "piano", partials=10, rolloff=1.1, inharmonicity=4e-4, decay_s=2.5, partial_decay=0.35,
    release_s=0.12, attack_scale=0.1, attack_max_s=0.004, hammer=0.5, hammer_position=1 / 7,
)
LEAD = Instrument("lead", partials=8, rolloff=1.3, decay_s=4.0, partial_decay=0.1, release_s=0.06)
PAD = Instrument("pad", partials=5, rolloff=1.6, release_s=0.25, attack_scale=2.0, attack_max_s=0.3)
BASS = Instrument("bass", partials=5, rolloff=1.5, odd_only=True, decay_s=3.0, partial_decay=0.2, release_s=0.06)
PLUCK = Instrument("pluck", partials=8, rolloff=1.0, decay_s=0.6, partial_decay=0.5, release_s=0.05, attack_scale=0.2)

INSTRUMENTS: dict[str, Instrument] = {i.name: i for i in (PIANO, LEAD, PAD, BASS, PLUCK)}

# General MIDI programs (0-based) of each additive instrument: what a SoundFont plays in its place and
# what a MIDI file names, so the SoundFont renderer and the exported .mid agree on the arrangement.
GM_PROGRAMS: dict[str, int] = {"piano": 0, "lead": 80, "pad": 89, "bass": 32, "pluck": 24}


def get_instrument(name: str | Instrument) -> Instrument:
    """Look an instrument up by name, with an error that lists the valid names."""
    if isinstance(name, Instrument):
        return name
    try:
        return INSTRUMENTS[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown instrument {name!r}; choose one of {', '.join(INSTRUMENTS)}") from None
