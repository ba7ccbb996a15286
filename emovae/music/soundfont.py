"""General MIDI SoundFont instruments (tinysoundfont): the engine's default timbres.

Recorded instruments carry what an additive recipe cannot (a bow's noise, a string's body, a real
drum kit), and a General MIDI SoundFont names them with the same programs the exported MIDI file
uses, so the audio and the ``.mid`` play the same arrangement. The additive renderer
(:mod:`emovae.music.render`) stays as the fallback that needs no SoundFont.

Which file plays: an explicit path, else ``$EMOVAE_SOUNDFONT``, else the General MIDI SoundFont that
``pretty_midi``'s wheel ships (``TimGM6mb.sf2``, 6 MB). A loaded synth is kept per (file, sample
rate), so repeated renders do not re-read it; every render starts from a reset synth (no note still
sounding, every channel's program, pan and volume set again), so a render never depends on the one
before it.

One synth channel per :class:`~emovae.music.mix.Placement` (a voice at one stereo position), with
its program, its pan and a volume that first brings the program to a common level (each preset's
level is measured once on a reference note: SoundFont presets differ by 15 dB and more) and then
applies the voice's balance. Drums play on channel 10 from bank 128; the kit is the percussion's
``programs`` entry (0 standard, 40 brushes; a kit the file lacks falls back to the standard kit, as
General MIDI players do). The notes are played in sample order: ``generate()`` renders each gap
between events straight into one preallocated buffer, and the events at each instant follow
(note-offs first, so a repeated note is released, then struck). :meth:`SoundFontSynth.stream` hands
each finished stretch of that buffer to a callback while the rest renders, so the mix's linear stages
(:class:`~emovae.music.mix.LinearStages`) run on the other core meanwhile.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from emovae.music.events import HIHAT, KICK, SNARE, NoteEvents, Voice
from emovae.music.midi import DRUM_CHANNEL, midi_notes
from emovae.music.mix import Placement

F32 = np.float32
SOUNDFONT_ENV = "EMOVAE_SOUNDFONT"
BUNDLED_PACKAGE, BUNDLED_FILE = "pretty_midi", "TimGM6mb.sf2"
DRUM_BANK = 128
DRUM_RING_S = 2.0  # a drum rings this long whatever the score's note length (a hit has no key to hold) ...
# Polyphony: twice General MIDI's minimum of 24 voices. Cymbals and pads ring for seconds after their
# note-off, so a dense piece piles up a hundred release tails, each costing as much to render as a
# sounding note; past this many, tinysoundfont ends the tail furthest into its release when a new note
# starts (where the new attack masks it). Measured on a 10 s grid: the slowest piece 301 -> 87 ms, the
# tails it ends 32 dB below the piece's level, pieces without stacked tails unchanged bit for bit.
MAX_VOICES = 48
# The stretches the render hands to the mix's worker thread (emovae.music.mix.LinearStages): each hand-over
# costs the render a GIL switch, and the last stretch is mixed after the render ends. Happy piece, 44.1 kHz
# stereo, render plus stages (idle machine, medians of 15 interleaved): 0.25 s 67.0 ms, 0.5 s 62.9, 1 s 58.6
# (2.3 ms of it after the render), 2 s no better (5 ms after); in one thread 73.8.
STREAM_BLOCK_S = 1.0
FLUSH_S = 0.02  # after reset() voices still fade over tinysoundfont's 10 ms quick release: render them away
LEVEL_NOTE_S = 0.5  # length of the reference note a preset's level is measured on
LEVEL_VELOCITY = 100
LEVEL_PITCH: dict[Voice, int] = {Voice.MELODY: 72, Voice.HARMONY: 60, Voice.BASS: 36}
LEVEL_DRUMS = (KICK, SNARE, HIHAT)
REFERENCE_LEVEL = 0.02  # RMS a voice of balance 1 is brought to (the mix normalises the total afterwards)
# Each voice's level relative to the melody once every program sits at REFERENCE_LEVEL: the
# additive ensemble's balance (VOICE_GAINS in emovae.music.synth), measured as RMS shares of its voices,
# with the bass lower (0.36, not 0.6): a sampled bass's fifth harmonic is the major third of its root,
# and at the additive share it made minor pieces read major (v <= 0.25: 12 of 20 clips minor by the
# key finder of benchmarks/bench_engine.py; 19 of 20 at 0.36 with the acoustic bass, program 32).
SOUNDFONT_BALANCE: dict[Voice, float] = {Voice.MELODY: 1.0, Voice.HARMONY: 0.3, Voice.BASS: 0.36, Voice.PERCUSSION: 0.3}
FIX = ("pass a General MIDI SoundFont (soundfont=PATH, or --soundfont PATH where a command offers it), set "
       f"{SOUNDFONT_ENV}=PATH, or install the bundled one and the synth: `pip install pretty_midi` (it ships "
       "TimGM6mb.sf2) and `pip install --no-deps tinysoundfont==0.3.7` (without its dependencies: its metadata asks "
       "for pyaudio, which emovae never uses and which needs the PortAudio headers; scripts/test.sh and "
       "scripts/run_app.sh install both)")


class SoundFontUnavailable(RuntimeError):
    """No SoundFont can be played: the file is missing or unreadable, or tinysoundfont is not installed."""


def find_soundfont(path: str | os.PathLike | None = None) -> Path:
    """The SoundFont to play: ``path``, else ``$EMOVAE_SOUNDFONT``, else pretty_midi's ``TimGM6mb.sf2``.

    Raises
    ------
    SoundFontUnavailable
        When the chosen file does not exist; the message names it, where it came from, and the fix.
    """
    if path is not None:
        source = "the soundfont argument"
    elif os.environ.get(SOUNDFONT_ENV):
        path, source = os.environ[SOUNDFONT_ENV], f"${SOUNDFONT_ENV}"
    else:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise SoundFontUnavailable(f"no SoundFont given and {BUNDLED_PACKAGE}, which bundles {BUNDLED_FILE}, "
                                       f"is not installed; {FIX}")
        path, source = Path(spec.submodule_search_locations[0]) / BUNDLED_FILE, f"{BUNDLED_PACKAGE}'s bundled file"
    path = Path(path).expanduser()
    if not path.is_file():
        raise SoundFontUnavailable(f"SoundFont {path} (from {source}) does not exist; {FIX}")
    return path


def load_soundfont(path: str | os.PathLike | None = None, sample_rate: int = 44_100,
                   max_voices: int = MAX_VOICES) -> "SoundFontSynth":
    """The synth for a SoundFont file (see :func:`find_soundfont`) at a sample rate and polyphony, loaded once and kept."""
    return _loaded(str(find_soundfont(path).resolve()), int(sample_rate), int(max_voices))


def render_soundfont(parts: Sequence[Placement], programs: Mapping[Voice, int], sample_rate: int, n_samples: int,
                     path: str | os.PathLike | None = None, max_voices: int = MAX_VOICES) -> np.ndarray:
    """Play placed notes through a SoundFont: stereo float32 ``(2, n_samples)``, dry and unnormalised.

    ``programs`` gives each pitched voice's General MIDI program and, for :attr:`Voice.PERCUSSION`, the
    drum kit (default 0, the standard kit). ``max_voices``: the polyphony (see :data:`MAX_VOICES`);
    the render costs about the same per voice, and dense pieces keep every voice busy.
    """
    return load_soundfont(path, sample_rate, max_voices).render(parts, programs, n_samples)


def stream_soundfont(parts: Sequence[Placement], programs: Mapping[Voice, int], sample_rate: int, n_samples: int,
                     on_block: Callable[[np.ndarray], None], path: str | os.PathLike | None = None,
                     max_voices: int = MAX_VOICES) -> None:
    """:func:`render_soundfont`'s bus handed to ``on_block`` stretch by stretch as it renders, ``(2, m)`` views."""
    load_soundfont(path, sample_rate, max_voices).stream(parts, programs, n_samples, on_block)


class SoundFontSynth:
    """One tinysoundfont synth with one SoundFont loaded, rendering whole pieces (thread-safe: one at a time)."""

    def __init__(self, path: Path, sample_rate: int, max_voices: int = MAX_VOICES):
        try:
            import tinysoundfont
        except ImportError:
            raise SoundFontUnavailable(f"tinysoundfont is not installed, so {path} cannot be played; {FIX}") from None
        self.path, self.sample_rate, self.max_voices = path, sample_rate, max_voices
        self.synth = tinysoundfont.Synth(samplerate=sample_rate)
        try:
            self.sfid = self.synth.sfload(str(path), max_voices=max_voices)
        except RuntimeError as error:
            raise SoundFontUnavailable(f"{path} is not a readable SoundFont ({error}); {FIX}") from None
        self._font = self.synth.soundfonts[self.sfid]
        self._levels: dict[tuple[int, bool, int], float] = {}
        self._lock = threading.Lock()

    def render(self, parts: Sequence[Placement], programs: Mapping[Voice, int], n_samples: int) -> np.ndarray:
        """Stereo float32 ``(2, n_samples)`` of ``parts``, each on its own channel (module docstring)."""
        return np.ascontiguousarray(self.stream(parts, programs, n_samples).T)

    def stream(self, parts: Sequence[Placement], programs: Mapping[Voice, int], n_samples: int,
               on_block: Callable[[np.ndarray], None] | None = None) -> np.ndarray:
        """:meth:`render`'s samples, interleaved ``(n_samples, 2)``; ``on_block`` gets each finished
        stretch of at least :data:`STREAM_BLOCK_S` as a ``(2, m)`` view, in order, while the rest renders."""
        with self._lock:
            channels = self._channels(parts, programs)
            volumes = [SOUNDFONT_BALANCE[p.voice] * REFERENCE_LEVEL / self._level(p.voice, program)
                       for _, p, program in channels]
            self._reset()
            for (channel, part, program), volume in zip(channels, volumes):
                self._select(channel, part.voice, program)
                self._font.channel_set_pan(channel, 0.5 + 0.5 * float(np.clip(part.position, -1.0, 1.0)))
                self._font.channel_set_volume(channel, float(volume))
            out = np.zeros((n_samples, 2), dtype=F32)
            self._play([(channel, part.voice, part.events) for channel, part, _ in channels], out, on_block)
        return out

    def _channels(self, parts: Sequence[Placement], programs: Mapping[Voice, int]) -> list[tuple[int, Placement, int]]:
        """(channel, part, program) of each part: drums on channel 10, the others on the free channels in order."""
        free = iter(c for c in range(16) if c != DRUM_CHANNEL)
        out = []
        for part in parts:
            program = int(programs.get(part.voice, 0))
            if not 0 <= program <= 127:
                raise ValueError(f"program {program} for {part.voice.name.lower()} is not a General MIDI program (0..127)")
            if part.voice == Voice.PERCUSSION:
                out.append((DRUM_CHANNEL, part, program))
                continue
            channel = next(free, None)
            if channel is None:
                raise ValueError(f"{len(parts)} placements need more than the 15 melodic MIDI channels")
            out.append((channel, part, program))
        return out

    def _select(self, channel: int, voice: Voice, program: int) -> None:
        drums = voice == Voice.PERCUSSION
        try:
            self.synth.program_select(channel, self.sfid, DRUM_BANK if drums else 0, program, drums)
        except RuntimeError:
            raise SoundFontUnavailable(f"{self.path} has no General MIDI program {program} for the "
                                       f"{voice.name.lower()}; use a complete General MIDI SoundFont ({FIX})") from None

    def _reset(self) -> None:
        """Silence every voice and forget every channel setting, so the next render starts from nothing."""
        self._font.reset()
        flush = int(np.ceil(FLUSH_S * self.sample_rate))
        self.synth.generate(flush, buffer=memoryview(np.zeros(2 * flush, dtype=F32)).cast("B"))

    def _level(self, voice: Voice, program: int) -> float:
        """RMS of the program's reference note (the kit's kick, snare and hat together), measured once."""
        drums = voice == Voice.PERCUSSION
        key = (program, drums, 0 if drums else LEVEL_PITCH[voice])
        if key not in self._levels:
            self._reset()
            channel = DRUM_CHANNEL if drums else 0
            self._select(channel, voice, program)
            for pitch in LEVEL_DRUMS if drums else (LEVEL_PITCH[voice],):
                self.synth.noteon(channel, pitch, LEVEL_VELOCITY)
            note = np.zeros(2 * int(LEVEL_NOTE_S * self.sample_rate), dtype=F32)
            self.synth.generate(note.size // 2, buffer=memoryview(note).cast("B"))
            rms = float(np.sqrt(np.mean(np.square(note, dtype=np.float64))))
            self._levels[key] = rms if rms > 1e-6 else REFERENCE_LEVEL  # a silent preset: leave its level alone
        return self._levels[key]

    def _play(self, channels: list[tuple[int, Voice, NoteEvents]], out: np.ndarray,
              on_block: Callable[[np.ndarray], None] | None = None) -> None:
        """Note-ons and note-offs in sample order, ``generate()`` filling ``out`` between them.

        The blocks for ``on_block`` end where a ``generate()`` call ends: splitting a call would move
        tinysoundfont's 64-sample envelope steps, and the samples with them.
        """
        rate, n_samples = self.sample_rate, out.shape[0]
        columns = []  # sample, kind (0 off, 1 on), channel, key, velocity
        for channel, voice, events in channels:
            keys, velocities = midi_notes(events)
            start = np.round(events.onset * rate).astype(np.int64)
            if voice == Voice.PERCUSSION:
                end = np.minimum(events.onset + np.maximum(events.duration, DRUM_RING_S), _next_hit(events.onset, keys))
            else:
                end = events.onset + events.duration
            stop = np.maximum(np.round(end * rate).astype(np.int64), start + 1)
            n = len(events)
            columns.append(np.stack([start, np.ones(n, np.int64), np.full(n, channel), keys, velocities]))
            columns.append(np.stack([stop, np.zeros(n, np.int64), np.full(n, channel), keys, velocities]))
        table = np.concatenate(columns, axis=1) if columns else np.zeros((5, 0), np.int64)
        table = table[:, table[0] < n_samples]
        table = table[:, np.lexsort((table[1], table[0]))]  # by time; at one time, offs before ons
        view = memoryview(out).cast("B")
        frame = 2 * out.itemsize
        position = handed = 0
        block = int(STREAM_BLOCK_S * self.sample_rate) if on_block is not None else n_samples + 1
        # The SoundFont's own calls, not the Synth wrappers: generate() and noteon() are Python layers
        # that, for one loaded SoundFont, no sequencer and keys, velocities and channels known valid
        # (midi_notes clips them; every channel was selected), make these same calls with these same
        # arguments; their checks cost 3.2 ms of the 10 s happy piece's 48.5 (713 renders, 1400 events;
        # idle machine, medians of 31 interleaved), and the samples are the same bits.
        render, note_on, note_off = self._font.render, self._font.channel_note_on, self._font.channel_note_off
        for time, kind, channel, key, velocity in table.T.tolist():
            if time > position:
                render(view[position * frame : time * frame], False)
                position = time
                if position - handed >= block:
                    on_block(out[handed:position].T)
                    handed = position
            if kind:
                note_on(channel, key, velocity / 127.0)
            else:
                note_off(channel, key)
        if position < n_samples:
            render(view[position * frame :], False)
        if on_block is not None and handed < n_samples:
            on_block(out[handed:].T)


def _next_hit(onset: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """... or until the same drum is struck again: the new stroke masks the old one's tail, and a ride
    played in eighths then holds one voice instead of twenty (five times faster to render)."""
    order = np.lexsort((onset, keys))
    following = np.full(onset.size, np.inf)
    same = keys[order][1:] == keys[order][:-1]
    following[order[:-1][same]] = onset[order][1:][same]
    return following


@lru_cache(maxsize=8)
def _loaded(path: str, sample_rate: int, max_voices: int) -> SoundFontSynth:
    return SoundFontSynth(Path(path), sample_rate, max_voices)
