"""How the engine renderers play for a listener: sample rate, channels, timbre and SoundFont.

The ``synth`` and ``rules`` renderers compose a score and play it through the music engine; what a
listener gets (the stage's WAVs, the app's players) is 44.1 kHz stereo, on a General MIDI SoundFont
where one loads. That choice is one frozen value, :class:`ListeningSettings`, carried by each
:class:`~emovae.generate.generator.GenerationRequest` to the renderers, so the CLI, the app, the
stage's resume key and the sidecars all read it from the same place.

None of it reaches EnCodec or the training data: the codec's audio stays 24 kHz mono
(:data:`emovae.audio.SAMPLE_RATE`: chunks, latents, uploads), the ``neural`` renderer decodes at that
rate, and the estimator folds stereo to mono before it reads (:func:`emovae.eval.features.extract_features`).

Every field is handed to the engine explicitly (:meth:`ListeningSettings.engine_args`), never left
to the engine's defaults: those belong to the music layer (mono 24 kHz, what the demo dataset and the
calibration are rendered with) and may change under this one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from emovae.checks import choice_of, number_in_range
from emovae.generate.sampler import GenerationInputError
from emovae.music.soundfont import SoundFontUnavailable, find_soundfont, load_soundfont
from emovae.music.synth import CHANNELS, TIMBRES

LISTENING_SAMPLE_RATE = 44_100  # CD rate: what players and browsers expect, and the SoundFont's native rate
LISTENING_CHANNELS = 2
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 192_000
# The SoundFont's voice limit when playing for a listener: half the engine's (MAX_VOICES, 48, what the
# demo dataset and the calibration are rendered with). Why: on the dense presets (happy, angry) every
# voice is busy the whole piece (pad and drum release tails), the render costs the same per voice, and
# at 48 the slider took ~145 ms for 10 s on 2 cores against a goal of 100. At 24, tinysoundfont ends
# the tail furthest into its release sooner: measured on the four presets, seeds 0-1, 44.1 kHz stereo
# (after the mix), the master differs from the 48-voice one by -22 to -28 dB (RMS of the difference
# relative to the piece's), its loudness by <= 0.001 LU; sad and calm (never 24 voices) are unchanged
# bit for bit; the SoundFont + mix of happy 150 -> 91 ms, angry 139 -> 103 ms (load 2.5). 32 voices
# (-31 to -37 dB) saved too little (108 / 115 ms). Pass polyphony=MAX_VOICES for the engine's sound.
# (Measured while the pad still pulsed when excited; it now holds its chords, compose.PAD_LEGATO.)
LISTENING_POLYPHONY = 24
MIN_POLYPHONY, MAX_POLYPHONY = 8, 256


@dataclass(frozen=True)
class ListeningSettings:
    """How the engine renderers play: ``sample_rate`` Hz, ``channels`` (1: ``(n,)``, 2: ``(2, n)``), ``timbre``.

    ``timbre`` is the engine's: "auto" plays the SoundFont and falls back to the additive instruments
    (with one warning per process) when none can be loaded; "soundfont" insists on it; "additive" never
    loads one. ``soundfont`` is a ``.sf2`` path; None means the engine's choice (``$EMOVAE_SOUNDFONT``,
    else the General MIDI file pretty_midi bundles, see :func:`emovae.music.soundfont.find_soundfont`).
    ``polyphony`` is the SoundFont's voice limit (:data:`LISTENING_POLYPHONY`, fewer than the engine's
    own, for the slider's latency; the comment there has the measurements).
    """

    sample_rate: int = LISTENING_SAMPLE_RATE
    channels: int = LISTENING_CHANNELS
    timbre: str = "auto"
    soundfont: Path | None = None
    polyphony: int = LISTENING_POLYPHONY

    def validated(self) -> "ListeningSettings":
        """A checked copy, refusing bad values by name; a SoundFont that must play is loaded now.

        A named ``soundfont`` must exist whatever the timbre (a typo should not pass silently), and is
        loaded unless the timbre is "additive"; with timbre "soundfont" the default file is loaded too.
        So a missing or unreadable file, or a missing synth, fails before any work, with
        :class:`~emovae.music.soundfont.SoundFontUnavailable` naming the path and the fix. "auto"
        without a named file checks nothing: falling back is what it is for.
        """
        try:
            rate = number_in_range(self.sample_rate, "sample_rate", MIN_SAMPLE_RATE, MAX_SAMPLE_RATE)
            channels = choice_of(self.channels, "channels", CHANNELS)
            timbre = choice_of(str(self.timbre).strip().lower(), "timbre", TIMBRES)
            polyphony = number_in_range(self.polyphony, "polyphony", MIN_POLYPHONY, MAX_POLYPHONY)
        except ValueError as exc:
            raise GenerationInputError(str(exc)) from None
        if not float(rate).is_integer():
            raise GenerationInputError(f"sample_rate={self.sample_rate!r} must be a whole number of Hz")
        if not float(polyphony).is_integer():
            raise GenerationInputError(f"polyphony={self.polyphony!r} must be a whole number of voices")
        soundfont = Path(self.soundfont).expanduser() if self.soundfont not in (None, "") else None
        settings = ListeningSettings(int(rate), channels, timbre, soundfont, int(polyphony))
        if soundfont is not None:
            find_soundfont(soundfont)
        if timbre != "additive" and (soundfont is not None or timbre == "soundfont"):
            load_soundfont(soundfont, settings.sample_rate, settings.polyphony)
        return settings

    def engine_args(self) -> dict:
        """Keyword arguments for :func:`emovae.music.synth.render_piece`: every field, explicitly."""
        return {"sample_rate": self.sample_rate, "channels": self.channels, "timbre": self.timbre,
                "soundfont": self.soundfont, "polyphony": self.polyphony}

    def soundfont_file(self) -> Path | None:
        """The SoundFont these settings would play (resolved as the engine resolves it); None if none can."""
        if self.timbre == "additive":
            return None
        try:
            return find_soundfont(self.soundfont).resolve()
        except SoundFontUnavailable:
            return None

    def key(self) -> dict:
        """What decides the sound, JSON-ready (the stage's resume key): the fields, the SoundFont resolved."""
        soundfont = self.soundfont_file()
        return {"sample_rate": self.sample_rate, "channels": self.channels, "timbre": self.timbre,
                "soundfont": None if soundfont is None else os.fspath(soundfont),
                "polyphony": None if soundfont is None else self.polyphony}  # only the SoundFont has voices to limit
