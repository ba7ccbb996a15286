"""The mix: where each voice sits in the stereo field, the room, the bus dynamics and the loudness.

A SoundFont's voices arrive dry and at the levels its samples happen to have, so the engine mixes
them as an engineer would, with Spotify's ``pedalboard`` for the processing and ``pyloudnorm`` for
the measurement:

* **placement** (:func:`placements`, :func:`pan`): melody just right of centre, the harmony spread
  (each chord's lower notes left, upper notes right), bass and drums in the centre; one
  constant-power pan law, the one tinysoundfont applies to a channel, so both timbres place a voice
  alike;
* **brightness** (:func:`brightness_curve`): the notes' per-note brightness becomes a per-sample
  tilt of the bus, dark (a first-order low-pass) at 0, neutral at 0.5, a +6 dB high shelf at 1, so
  the spectral centroid follows the emotion even where a sampled instrument cannot be re-voiced;
* **room and glue** (:func:`master_bus`): a modest Freeverb room, then gentle bus compression; the
  tilt and the room are linear and run block by block (:class:`LinearStages`), so the SoundFont
  path streams the bus through them while the synth is still rendering;
* **loudness**: normalised to an integrated loudness in LUFS (ITU-R BS.1770, what streaming
  services normalise to), not to raw RMS, so a bass-heavy piece and a bright one at the same
  setting sound equally loud; the target is the engine's ``loudness_db`` parameter plus a fixed
  offset, so arousal still orders the pieces' loudness;
* **peaks**: a lookahead brick-wall limiter (ceiling below 0.99, no hard clip), then short linear
  fades so no piece starts or ends with a click.

The additive timbre's mono output keeps its own, older master (:func:`master_rms`: RMS target,
tanh soft limit), bit for bit, so pieces and calibrations made with it stay reproducible.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from queue import SimpleQueue

import numpy as np
import pedalboard
import pyloudnorm
import scipy.signal

from emovae.music.events import NoteEvents, Voice

F32 = np.float32
PEAK_LIMIT = 0.99
LIMITER_THRESHOLD = 0.8
EDGE_FADE_S = 0.01
BLOCK_S = 0.4  # BS.1770's gating block: integrated loudness needs at least this much audio
BLOCK_OVERLAP = 0.75  # BS.1770: consecutive blocks overlap by 75 %
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = 10.0


@dataclass(frozen=True)
class MixSettings:
    """The mix's constants (positions from -1 = left to 1 = right; levels in dB).

    ``lufs_offset``: the loudness target is ``loudness_db + lufs_offset`` LUFS; 0 keeps the engine's
    -24..-14 range (a 1 kHz tone's LUFS equals its RMS in dBFS, so music lands near its old RMS).
    ``staging_db``: RMS the bus is brought to before the compressor, so its threshold means the same
    for every piece whatever level the instruments were rendered at. ``reverb_dry`` 0.5 is unity:
    JUCE's reverb (which pedalboard wraps) scales the dry signal by 2.
    """

    melody_pan: float = 0.1
    harmony_pan: float = 0.0
    harmony_spread: float = 0.5
    bass_pan: float = 0.0
    drums_pan: float = 0.0
    brightness_cutoff_hz: float = 1200.0  # centroid of a test piece 448 -> 545 -> 699 Hz at brightness 0, 0.5, 1
    brightness_depth: float = 1.0
    brightness_hop_s: float = 0.01
    brightness_smoothing_s: float = 0.15
    reverb_room_size: float = 0.55
    reverb_damping: float = 0.5
    reverb_wet: float = 0.12
    reverb_dry: float = 0.5
    reverb_width: float = 1.0
    staging_db: float = -20.0
    compressor_threshold_db: float = -20.0
    compressor_ratio: float = 2.0
    compressor_attack_ms: float = 15.0
    compressor_release_ms: float = 200.0
    lufs_offset: float = 0.0
    loudness_tolerance_lu: float = 0.1
    loudness_passes: int = 1
    limiter_ceiling_db: float = -0.1  # 0.9886: under PEAK_LIMIT with room for float rounding
    limiter_release_ms: float = 80.0
    edge_fade_s: float = EDGE_FADE_S

    def position(self, voice: Voice) -> float:
        """Where a voice sits (the harmony's centre, around which its notes are spread)."""
        return {Voice.MELODY: self.melody_pan, Voice.HARMONY: self.harmony_pan, Voice.BASS: self.bass_pan,
                Voice.PERCUSSION: self.drums_pan}[Voice(voice)]


@dataclass(frozen=True)
class Placement:
    """Notes of one voice that sit at one place in the stereo field (a synth channel, an additive stem)."""

    voice: Voice
    position: float
    events: NoteEvents


def placements(events: NoteEvents, settings: MixSettings = MixSettings()) -> list[Placement]:
    """Split a score into the groups of notes that share a stereo position, voice by voice.

    The harmony is spread by pitch within each chord (notes struck together): those above the chord's
    mean pitch go right, the rest left, so a chord opens across the stereo field the way a piano's
    or a string section's does; a lone note (no chord to split) goes by the harmony's median pitch.
    """
    out = []
    for voice in Voice:
        part = events.select(events.voice == voice)
        if not len(part):
            continue
        centre = settings.position(voice)
        if voice != Voice.HARMONY or settings.harmony_spread == 0:
            out.append(Placement(voice, centre, part))
            continue
        _, chord = np.unique(part.onset, return_inverse=True)
        mean = np.bincount(chord, weights=part.pitch) / np.bincount(chord)
        upper = np.where(part.pitch == mean[chord], part.pitch > np.median(part.pitch), part.pitch > mean[chord])
        for side, mask in ((-1.0, ~upper), (1.0, upper)):
            if mask.any():
                position = float(np.clip(centre + side * settings.harmony_spread, -1.0, 1.0))
                out.append(Placement(voice, position, part.select(mask)))
    return out


def pan(mono: np.ndarray, position: float) -> np.ndarray:
    """A mono signal placed in the stereo field: ``(2, n)`` with constant power.

    The law is tinysoundfont's (``L = sqrt((1 - p) / 2)``, ``R = sqrt((1 + p) / 2)``), so a voice sits in
    the same place whichever timbre plays it; at the centre each side carries the signal at -3 dB.
    """
    position = float(np.clip(position, -1.0, 1.0))
    gains = np.sqrt(np.array([(1.0 - position) / 2.0, (1.0 + position) / 2.0], dtype=F32))
    return gains[:, None] * np.asarray(mono, dtype=F32)[None, :]


def brightness_curve(events: NoteEvents, sample_rate: int, n_samples: int,
                     settings: MixSettings = MixSettings()) -> np.ndarray:
    """The brightness the music asks for at every sample: the velocity-weighted mean of the sounding notes'.

    Between notes the last value holds (a rest does not change the timbre); the curve is smoothed over
    ``brightness_smoothing_s`` so the tilt glides instead of stepping (a step would be audible as a
    click in the filtered band). A score without notes is neutral (0.5) throughout.
    """
    hop = max(1, int(round(settings.brightness_hop_s * sample_rate)))
    n_frames = n_samples // hop + 2
    if not len(events):
        return np.full(n_samples, 0.5, dtype=F32)
    start = np.clip(np.round(events.onset * sample_rate / hop).astype(np.int64), 0, n_frames - 1)
    stop = np.clip(np.round((events.onset + events.duration) * sample_rate / hop).astype(np.int64), start + 1, n_frames)
    weight, weighted = np.zeros(n_frames + 1), np.zeros(n_frames + 1)
    for array, value in ((weight, events.velocity), (weighted, events.velocity * events.brightness)):
        np.add.at(array, start, value)
        np.add.at(array, stop, -value)
    weight, weighted = np.cumsum(weight)[:n_frames], np.cumsum(weighted)[:n_frames]
    sounding = weight > 1e-9
    if not sounding.any():
        return np.full(n_samples, 0.5, dtype=F32)
    last = np.maximum.accumulate(np.where(sounding, np.arange(n_frames), 0))  # hold through rests
    last = np.where(np.arange(n_frames) < np.argmax(sounding), np.argmax(sounding), last)  # before the first note
    frames = weighted[last] / weight[last]
    width = max(1, int(round(settings.brightness_smoothing_s * sample_rate / hop)))
    frames = np.convolve(np.pad(frames, (width // 2, width - 1 - width // 2), mode="edge"), np.ones(width) / width, "valid")
    return _upsample(frames, hop, n_samples)


def _upsample(frames: np.ndarray, hop: int, n_samples: int) -> np.ndarray:
    """``np.interp(np.arange(n_samples), np.arange(len(frames)) * hop, frames)`` as float32, bit for bit.

    On a uniform grid the sample ``k * hop + r`` is ``slope[k] * r + frames[k]``, the very expression
    np.interp evaluates (in float64, the same roundings), without its search for each sample's
    interval: the whole curve 4.7 -> 1.1 ms for 10 s at 44.1 kHz. ``frames`` must reach past the last sample.
    """
    slopes = (frames[1:] - frames[:-1]) / hop
    out = np.multiply.outer(slopes, np.arange(hop, dtype=np.float64))
    out += frames[:-1, None]
    return out.reshape(-1)[:n_samples].astype(F32)


def master_bus(bus: np.ndarray, sample_rate: int, loudness_db: float | None, channels: int = 2,
               brightness: np.ndarray | None = None, settings: MixSettings = MixSettings()) -> np.ndarray:
    """Master a stereo bus: brightness tilt, room, compression, loudness, limiter, edge fades.

    Parameters
    ----------
    bus : ndarray, shape (2, n)
        The placed voices, summed.
    sample_rate : int
        Hz.
    loudness_db : float or None
        The engine's loudness parameter; the integrated loudness target is ``loudness_db +
        settings.lufs_offset`` LUFS. None leaves the level as rendered (only the limiter acts).
    channels : {1, 2}
        2 returns the stereo master ``(2, n)``; 1 its mono fold-down ``(n,)``, the mean of the two
        channels, exactly. The loudness target is met by the fold-down (what feeds EnCodec, the
        descriptors and the emotion estimator), so a listener's stereo clip and the mono chunk a model
        learned from are the same piece at the same level to every measurement that folds to mono;
        by BS.1770, which sums the channels' power, the stereo master measures up to 3 LU louder
        (the estimator read the stereo clips 3.2-3.5 dB quieter, and so sadder-as-calmer, when the
        stereo master itself was normalised).
    brightness : ndarray, shape (n,), optional
        Per-sample brightness in [0, 1] (:func:`brightness_curve`); None for no tilt (the additive
        instruments already brighten their own partials).
    settings : MixSettings
        The mix's constants.

    Returns
    -------
    ndarray
        float32, peaks below 0.99, starting and ending at zero.
    """
    audio = np.asarray(bus, dtype=F32)
    if audio.ndim != 2 or audio.shape[0] != 2:
        raise ValueError(f"the bus must be stereo, shape (2, n_samples); got {audio.shape}")
    stages = LinearStages(sample_rate, audio.shape[1], brightness, settings)
    stages.push(audio)
    return finish_master(stages, loudness_db, channels)


def finish_master(stages: "LinearStages", loudness_db: float | None, channels: int = 2) -> np.ndarray:
    """The rest of :func:`master_bus` once the whole bus has passed the linear stages: staging gain,
    compressor, loudness, limiter, fold-down, edge fades.

    These stages hang on the level of the whole piece (the staging gain on its RMS, the compressor on
    that gain, the loudness on everything), so they wait for the last sample.
    """
    audio, settings, sample_rate = stages.result(), stages.settings, stages.sample_rate
    rms = stages.tilted_rms()
    if loudness_db is not None and rms > 1e-9:
        audio *= F32(10.0 ** (settings.staging_db / 20.0) / rms)
    audio = _compress(audio, sample_rate, settings)
    limiter = pedalboard.BrickwallLimiter(ceiling_db=settings.limiter_ceiling_db, release_ms=settings.limiter_release_ms)
    if loudness_db is None:
        audio = limiter(audio, sample_rate)
    else:
        audio = _normalise_loudness(audio, sample_rate, loudness_db + settings.lufs_offset, limiter, settings)
    if channels == 1:
        audio = audio.mean(axis=0)
    return fade_edges(audio, sample_rate, settings.edge_fade_s)


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS, ITU-R BS.1770) of ``(n,)`` mono or ``(2, n)`` stereo audio; -inf if silent.

    Shorter than one 0.4 s gating block, BS.1770 defines no integrated loudness (pyloudnorm refuses
    it), so the ungated, unweighted power sum stands in: for a 1 kHz tone, the standard's reference,
    the two agree (the K-weighting's +0.69 dB there cancels BS.1770's -0.691 dB), and a click-length
    piece has no room for the gating to matter.
    """
    audio = np.asarray(audio)
    if audio.shape[-1] < BLOCK_S * sample_rate:
        power = float(np.sum(np.mean(np.square(np.atleast_2d(audio), dtype=np.float64), axis=1)))
        return 10.0 * np.log10(power) if power > 0 else float("-inf")
    return _gated_loudness(_k_weighted_power(np.atleast_2d(audio), sample_rate), sample_rate)


def _k_weighted_power(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(channels, n)`` -> the K-weighted signal's power per sample, summed over the channels (float64).

    The filters are pyloudnorm's own (its BS.1770 meter's high shelf and high pass, coefficients for
    this rate), run as one two-section ``sosfilt`` in float64 instead of two ``lfilter`` passes with
    a float32 rounding between them (pyloudnorm filters a copy of the input in its own dtype): about
    half the time, and the result differs from pyloudnorm's only by that rounding (the loudness by
    < 1e-5 LU, tests/test_music_mix.py). The channel gains of BS.1770 are 1 for left and right.
    """
    sos = _k_weighting(sample_rate)
    filtered = scipy.signal.sosfilt(sos, np.asarray(audio, dtype=np.float64), axis=-1)
    np.square(filtered, out=filtered)
    return filtered[0] if len(filtered) == 1 else filtered.sum(axis=0)


def _gated_loudness(power: np.ndarray, sample_rate: int) -> float:
    """BS.1770's gated integrated loudness of a per-sample power, exactly as pyloudnorm gates it.

    The same 400 ms blocks with 75 % overlap (the bounds computed by pyloudnorm's expression, so the
    same samples fall in each block), the same -70 LUFS absolute and -10 LU relative gates; what
    changes is only how each block's mean is summed: from one cumulative sum (float64) instead of a
    Python loop of float32 sums over 4 x 25 blocks per 10 s, which was half the meter's time.
    """
    n = power.shape[-1]
    block, step = BLOCK_S, 1.0 - BLOCK_OVERLAP
    n_blocks = int(np.round((n / sample_rate - block) / (block * step))) + 1
    j = np.arange(n_blocks, dtype=np.float64)
    lower = (block * (j * step) * sample_rate).astype(np.int64)  # pyloudnorm's int(...) of the same float64 products
    upper = (block * (j * step + 1) * sample_rate).astype(np.int64)
    cumulative = np.zeros(n + 1)
    np.cumsum(power, out=cumulative[1:])
    z = (cumulative[np.minimum(upper, n)] - cumulative[np.minimum(lower, n)]) / (block * sample_rate)
    with np.errstate(divide="ignore"):
        blocks = -0.691 + 10.0 * np.log10(z)
        above = blocks >= ABSOLUTE_GATE_LUFS
        if not above.any():
            return float("-inf")
        relative = -0.691 + 10.0 * np.log10(np.mean(z[above])) - RELATIVE_GATE_LU
        gated = (blocks > relative) & (blocks > ABSOLUTE_GATE_LUFS)
        return float(-0.691 + 10.0 * np.log10(np.mean(z[gated]) if gated.any() else 0.0))


def master_rms(mix: np.ndarray, sample_rate: int, loudness_db: float | None) -> np.ndarray:
    """The additive timbre's mono master: ``loudness_db`` RMS, tanh soft limit under 0.99, edge fades.

    Kept exactly as it was before the mix existed, so the additive fallback's mono output (what the
    demo dataset and the engine calibration were rendered with) is unchanged bit for bit.
    """
    audio = np.asarray(mix, dtype=F32).copy()
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    if loudness_db is not None and rms > 1e-9:
        audio *= F32(10.0 ** (loudness_db / 20.0) / rms)
    return fade_edges(soft_limit(audio), sample_rate, EDGE_FADE_S)


def soft_limit(audio: np.ndarray, threshold: float = LIMITER_THRESHOLD, ceiling: float = PEAK_LIMIT) -> np.ndarray:
    """Leave samples below ``threshold`` untouched and bend the rest smoothly (tanh) under ``ceiling``."""
    magnitude = np.abs(audio)
    over = magnitude > threshold
    if not over.any():
        return audio
    knee = ceiling - threshold
    bent = threshold + knee * np.tanh((magnitude[over] - threshold) / knee)
    audio = audio.copy()
    audio[over] = np.sign(audio[over]) * bent.astype(F32)
    return audio


def fade_edges(audio: np.ndarray, sample_rate: int, seconds: float) -> np.ndarray:
    """Linear fade-in and fade-out over ``seconds`` on the last axis (in place), so the edges cannot click."""
    fade = min(int(seconds * sample_rate), audio.shape[-1] // 2)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, dtype=F32)
        audio[..., :fade] *= ramp
        audio[..., -fade:] *= ramp[::-1]
    return audio


# pedalboard processes a call in chunks of min(buffer_size, the call's length) and prepares a plugin
# afresh, clearing its state, whenever that grows from one call to the next; so every call but the
# last gets at least this many samples, and the chunk size stays at it.
PEDALBOARD_BLOCK = 8192
# The staging gain's RMS is summed chunk by chunk as the bus streams (in the worker thread: the whole
# sum at the end was 2.9 ms on the critical path), over chunks fixed on the bus, so any blocks give
# the same bits.
RMS_CHUNK = 8192


class LinearStages:
    """The bus's linear stages, brightness tilt then room (reverb), fed the bus in order, block by block.

    Both are filters whose state carries from one block to the next (pedalboard's ``reset=False``),
    so pushing the bus in any blocks gives the one-shot result bit for bit (tests/test_music_mix.py):
    the SoundFont renderer hands each finished stretch to a worker thread that runs these stages on
    the second core while the synth renders the rest (:meth:`in_background`). The staging gain, which
    the bus had before the room when the room ran one-shot, is applied after it (:func:`finish_master`):
    both are linear, so only float32 rounding tells the orders apart (the master moved by -114 dB
    or less relative to the piece: four presets, seeds 0-1, 44.1 kHz stereo and 24 kHz mono).

    The tilt is ``bus + k(t) * highpass(bus)`` with ``k = depth * (2 * brightness - 1)``: a first-order
    high-pass and its low-pass complement sum to the input exactly (same pole, bilinear transform), so
    k = -1 is the low-passed bus, 0 the bus itself and +1 a +6 dB shelf above the cutoff: one filter
    pass, no phase smearing between crossfaded copies.
    """

    def __init__(self, sample_rate: int, n_samples: int, brightness: np.ndarray | None = None,
                 settings: MixSettings = MixSettings()):
        if brightness is not None and np.shape(brightness) != (n_samples,):
            raise ValueError(f"brightness must have one value per sample, shape ({n_samples},); got {np.shape(brightness)}")
        self.sample_rate, self.n_samples, self.settings = sample_rate, n_samples, settings
        self.tilted = np.empty((2, n_samples), dtype=F32)  # what the staging gain's RMS is measured on
        self.wet = np.empty((2, n_samples), dtype=F32) if settings.reverb_wet > 0 else self.tilted
        self._tilt = None
        self._highpass = self._reverb = None
        if brightness is not None:
            self._tilt = (settings.brightness_depth * (2.0 * np.asarray(brightness, dtype=F32) - 1.0)).astype(F32)
            self._highpass = pedalboard.HighpassFilter(cutoff_frequency_hz=settings.brightness_cutoff_hz)
        if settings.reverb_wet > 0:
            self._reverb = pedalboard.Reverb(room_size=settings.reverb_room_size, damping=settings.reverb_damping,
                                             wet_level=settings.reverb_wet, dry_level=settings.reverb_dry,
                                             width=settings.reverb_width)
        self.done = 0  # samples through both stages
        self._pending: list[np.ndarray] = []  # pushed, not yet processed
        self._queued = 0
        self._squares: list[np.ndarray] = []  # (2, chunks) sums of squares, in order
        self._summed = 0  # samples whose squares are in them

    def push(self, block: np.ndarray) -> None:
        """The bus's next ``(2, m)`` samples (any strides: a view of the synth's buffer will do, left
        untouched until :meth:`result`). Short blocks wait for the next: see :data:`PEDALBOARD_BLOCK`."""
        self._pending.append(block)
        self._queued += block.shape[1]
        if self.done + self._queued > self.n_samples:
            raise ValueError(f"{self.done + self._queued} samples pushed into stages for {self.n_samples}")
        if self._queued >= PEDALBOARD_BLOCK or self.done + self._queued == self.n_samples:
            dry = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending, axis=1)
            self._pending, self._queued = [], 0
            self._process(np.ascontiguousarray(dry, dtype=F32))

    def _process(self, dry: np.ndarray) -> None:
        start, stop = self.done, self.done + dry.shape[1]
        tilted = self.tilted[:, start:stop]
        if self._highpass is None:
            tilted[...] = dry
        else:
            high = self._highpass.process(dry, self.sample_rate, buffer_size=PEDALBOARD_BLOCK, reset=False)
            high *= self._tilt[None, start:stop]  # in place on the filter's own output: no temporaries
            high += dry
            tilted[...] = high
        if self._reverb is not None:
            self.wet[:, start:stop] = self._reverb.process(tilted, self.sample_rate, buffer_size=PEDALBOARD_BLOCK,
                                                           reset=False)
        self._sum_squares(stop)
        self.done = stop

    def _sum_squares(self, stop: int) -> None:
        """Sum the squares of the tilted bus's whole :data:`RMS_CHUNK` chunks before ``stop`` (and the
        piece's last, partial chunk at its end): the same sums whichever blocks the bus came in."""
        start = self._summed
        whole = start + (stop - start) // RMS_CHUNK * RMS_CHUNK
        if whole > start:
            squares = np.square(self.tilted[:, start:whole], dtype=np.float64)
            self._squares.append(squares.reshape(2, -1, RMS_CHUNK).sum(axis=2))
        if stop == self.n_samples and whole < stop:
            self._squares.append(np.square(self.tilted[:, whole:stop], dtype=np.float64).sum(axis=1, keepdims=True))
            whole = stop
        self._summed = whole

    def result(self) -> np.ndarray:
        """The bus through both stages, ``(2, n)`` float32 (the stages' own array: the caller may change it)."""
        if self.done != self.n_samples:
            raise RuntimeError(f"the stages got {self.done} of the bus's {self.n_samples} samples")
        return self.wet

    def tilted_rms(self) -> float:
        """RMS of the tilted bus (before the room), what the staging gain brings to ``staging_db``."""
        if not self.tilted.size:
            return 0.0
        return float(np.sqrt(np.concatenate(self._squares, axis=1).sum() / self.tilted.size))

    @contextmanager
    def in_background(self) -> Iterator[Callable[[np.ndarray], None]]:
        """A function that hands blocks to a worker thread running :meth:`push`, for the ``with`` body.

        Leaving the block joins the worker (so no thread outlives it) and raises what the worker
        raised; an exception in the body abandons the blocks still queued. The body must hand over
        the blocks' samples untouched until then.
        """
        queue: SimpleQueue[np.ndarray | None] = SimpleQueue()
        errors: list[BaseException] = []
        abandon = threading.Event()

        def work() -> None:
            try:
                while (block := queue.get()) is not None:
                    if not abandon.is_set():
                        self.push(block)
            except BaseException as error:  # handed to the caller's thread, raised there
                errors.append(error)
                abandon.set()

        worker = threading.Thread(target=work, name="emovae-mix", daemon=True)
        with _short_switch_interval():
            worker.start()
            try:
                yield queue.put
            except BaseException:
                abandon.set()
                raise
            finally:
                queue.put(None)
                worker.join()
        if errors:
            raise errors[0]


# The worker needs the GIL back after each pedalboard or NumPy call that released it, while the synth's
# generate() calls hold it: at Python's default 5 ms switch interval it waited that long at every
# hand-over and fell behind (the happy piece's render with the stages threaded 74.4 ms, in one thread
# 73.8: nothing gained); at 1e-3 s 72.1, 1e-4 65.5, 5e-5 62.9 (0.5 s blocks; idle machine, medians of
# 15 interleaved). Process-wide while a render streams: other threads only switch more often then.
SWITCH_INTERVAL_S = 5e-5
_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.0


@contextmanager
def _short_switch_interval() -> Iterator[None]:
    """Python's thread switch interval at :data:`SWITCH_INTERVAL_S` while any render streams, restored
    after the last one (it is process-wide: a count, so overlapping renders do not restore it early)."""
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(SWITCH_INTERVAL_S, _switch_saved))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


def _compressor(settings: MixSettings) -> pedalboard.Compressor:
    """The bus compressor (the glue); a fresh one, so no state leaks between pieces."""
    return pedalboard.Compressor(threshold_db=settings.compressor_threshold_db, ratio=settings.compressor_ratio,
                                 attack_ms=settings.compressor_attack_ms, release_ms=settings.compressor_release_ms)


def _compress(audio: np.ndarray, sample_rate: int, settings: MixSettings) -> np.ndarray:
    """The bus compressor on a ``(2, n)`` bus, the right channel on a second thread.

    pedalboard's Compressor treats the channels independently (each through its own compressor, the
    stereo result is the same bits: tests/test_music_mix.py), and it releases the GIL while it works, so
    the two channels run on the two cores: 6.7 -> 4.1 ms for 10 s at 44.1 kHz (quiet machine, medians
    of 21), on the slider's critical path after the SoundFont render.
    """
    out: list[np.ndarray | None] = [None, None]
    errors: list[BaseException] = []

    def channel(i: int) -> None:
        try:
            out[i] = _compressor(settings)(np.ascontiguousarray(audio[i : i + 1]), sample_rate)
        except BaseException as error:  # raised in the caller's thread below
            errors.append(error)

    worker = threading.Thread(target=channel, args=(1,), name="emovae-compressor", daemon=True)
    worker.start()
    channel(0)
    worker.join()
    if errors:
        raise errors[0]
    return np.concatenate(out, axis=0)


def _normalise_loudness(audio: np.ndarray, sample_rate: int, target_lufs: float,
                        limiter: pedalboard.BrickwallLimiter, settings: MixSettings) -> np.ndarray:
    """Gain a stereo master so its mono fold-down is at ``target_lufs``, limit, and correct the gain for
    what the limiter took.

    Where no peak reaches the ceiling the limiter would pass the audio unchanged, so the gained audio is
    the answer (most pieces: it saves a limiter run and a measurement). Otherwise the limiter shaves
    peaks, which lowers the loudness a little; each of ``loudness_passes`` measures the limited result
    and raises the gain by the shortfall, so the output lands on the target (within
    ``loudness_tolerance_lu``) with its peaks still under the ceiling. This holds up to about -10 LUFS
    (the engine asks for -14 at most): beyond, the limiter works without pause, and pedalboard's
    BrickwallLimiter does not release while its input stays above the ceiling, so more gain brings less
    loudness.
    """
    measured = integrated_loudness(audio.mean(axis=0), sample_rate)
    if not np.isfinite(measured):
        return limiter(audio, sample_rate)
    gain_db = target_lufs - measured
    out = audio * F32(10.0 ** (gain_db / 20.0))
    if np.abs(out).max() < 10.0 ** (settings.limiter_ceiling_db / 20.0):
        return out
    out = limiter(out, sample_rate)
    for _ in range(settings.loudness_passes):
        error = target_lufs - integrated_loudness(out.mean(axis=0), sample_rate)
        if not np.isfinite(error) or abs(error) <= settings.loudness_tolerance_lu:
            break
        gain_db += error
        out = limiter(audio * F32(10.0 ** (gain_db / 20.0)), sample_rate)
    return out


@lru_cache(maxsize=8)
def _k_weighting(sample_rate: int) -> np.ndarray:
    """pyloudnorm's K-weighting at ``sample_rate`` (high shelf, then high pass) as second-order sections."""
    meter = pyloudnorm.Meter(sample_rate)  # BS.1770's filters, designed for this rate
    stages = [meter._filters[name] for name in ("high_shelf", "high_pass")]
    return np.array([np.concatenate([stage.passband_gain * stage.b, stage.a]) for stage in stages])
