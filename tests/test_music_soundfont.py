"""SoundFont timbre: finding the file, clear failures, the additive fallback, independent renders, GM drums."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from emovae.music import Arrangement, compose, synth
from emovae.music.events import Voice
from emovae.music.instruments import GM_PROGRAMS
from emovae.music.params import EmotionCurve
from emovae.music.render import HIHAT, KICK, SNARE, drum_family
from emovae.music.soundfont import SOUNDFONT_ENV, SoundFontUnavailable, find_soundfont, load_soundfont
from emovae.music.synth import create_musical_waveform, render_piece
from tests.music_helpers import notes, small_piece

pytest.importorskip("tinysoundfont")
SR = 24_000
GROOVE_DRUMS = (35, 36, 37, 38, 39, 40, 42, 44, 46, 49, 51, 53, 57, 59)


@pytest.fixture(autouse=True)
def no_soundfont_env(monkeypatch):
    """The tests choose their SoundFont explicitly: a developer's $EMOVAE_SOUNDFONT must not leak in."""
    monkeypatch.delenv(SOUNDFONT_ENV, raising=False)


@pytest.mark.parametrize("timbre", ["soundfont", "additive"])
@pytest.mark.parametrize("channels, sample_rate", [(1, SR), (2, 44_100), (1, 8000)])
def test_both_timbres_render_the_requested_length_and_layout(timbre, channels, sample_rate):
    audio = create_musical_waveform(small_piece(3.0), sample_rate, seconds=2.7, channels=channels, timbre=timbre)
    n = round(2.7 * sample_rate)
    assert audio.dtype == np.float32 and audio.shape == ((n,) if channels == 1 else (2, n))
    assert np.all(np.isfinite(audio)) and 0.01 < np.abs(audio).max() <= 0.99


def test_a_render_does_not_depend_on_the_one_before():
    """The synth is cached and reused: notes still sounding and channel settings must not carry over."""
    a = small_piece(2.0)
    b = notes([40, 64, 67], [0.0, 0.1, 0.2], [1.95, 1.85, 1.75], Voice.HARMONY)  # still sounding at the end
    render = lambda events, **kw: create_musical_waveform(events, SR, seconds=2.0, timbre="soundfont", **kw)  # noqa: E731
    first = render(a)
    render(b, instruments={Voice.HARMONY: "lead"}, programs={Voice.PERCUSSION: 40})
    np.testing.assert_array_equal(render(a), first)


def test_missing_or_invalid_soundfont_names_the_path_and_the_fix(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.sf2"
    with pytest.raises(SoundFontUnavailable, match="nowhere.sf2.*EMOVAE_SOUNDFONT"):
        create_musical_waveform(small_piece(1.0), SR, seconds=1.0, timbre="soundfont", soundfont=missing)
    broken = tmp_path / "broken.sf2"
    broken.write_text("not a SoundFont")
    with pytest.raises(SoundFontUnavailable, match="broken.sf2 is not a readable SoundFont"):
        load_soundfont(broken, SR)
    monkeypatch.setenv(SOUNDFONT_ENV, str(missing))
    with pytest.raises(SoundFontUnavailable, match=r"nowhere.sf2 \(from \$EMOVAE_SOUNDFONT\)"):
        find_soundfont()


def test_without_tinysoundfont_the_soundfont_is_unavailable_and_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "tinysoundfont", None)  # import fails as if it were not installed
    with pytest.raises(SoundFontUnavailable, match="tinysoundfont is not installed.*pip install --no-deps tinysoundfont"):
        create_musical_waveform(small_piece(1.0), 22_222, seconds=1.0, timbre="soundfont")  # a rate nothing cached


def test_an_explicit_path_wins_over_the_environment(monkeypatch, tmp_path):
    bundled = find_soundfont()
    monkeypatch.setenv(SOUNDFONT_ENV, str(tmp_path / "nowhere.sf2"))
    assert find_soundfont(bundled) == bundled


def test_auto_falls_back_to_the_additive_timbre_and_warns_once(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "_WARNED", set())
    missing = tmp_path / "nowhere.sf2"
    events = small_piece(1.5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        audios = [create_musical_waveform(events, SR, seconds=1.5, soundfont=missing) for _ in range(2)]
        piece = render_piece(EmotionCurve(0.7, 0.7, 1.5), soundfont=missing)
    fallback = [w for w in caught if "additive" in str(w.message)]
    assert len(fallback) == 1 and str(missing) in str(fallback[0].message)
    additive = create_musical_waveform(events, SR, seconds=1.5, timbre="additive")
    for audio in audios:
        np.testing.assert_array_equal(audio, additive)
    assert piece.timbre == "additive"


def test_a_piece_records_the_timbre_that_played_and_its_programs():
    piece = render_piece(EmotionCurve(0.8, 0.9, 2.0), seed=1, timbre="soundfont", instrument="lead")
    assert piece.timbre == "soundfont"
    assert piece.programs[Voice.MELODY] == GM_PROGRAMS["lead"] and piece.programs[Voice.BASS] == GM_PROGRAMS["bass"]
    assert piece.programs[Voice.PERCUSSION] == piece.score.drum_kit


def test_the_bass_has_energy_at_its_fundamental_and_its_low_harmonics():
    """A bass guitar's weight is its fundamental (the additive bass had odd partials only)."""
    for pitch in (33, 40):  # A1 55 Hz, E2 82 Hz
        audio = create_musical_waveform(notes([pitch], [0.0], [1.8], Voice.BASS), SR, seconds=2.0, timbre="soundfont")
        segment = audio[int(0.1 * SR) : int(1.5 * SR)]
        spectrum = np.abs(np.fft.rfft(segment * np.hanning(segment.size)))
        freqs = np.fft.rfftfreq(segment.size, 1.0 / SR)
        f0 = 440.0 * 2 ** ((pitch - 69) / 12)
        level = lambda k: 20 * np.log10(spectrum[np.abs(freqs - k * f0) < 0.1 * f0].max())  # noqa: E731
        strongest = 20 * np.log10(spectrum.max())
        assert level(1) > strongest - 6.0, f"pitch {pitch}: fundamental {level(1) - strongest:.1f} dB"
        assert all(level(k) > strongest - 20.0 for k in (2, 3, 4)), [round(level(k) - strongest, 1) for k in (2, 3, 4)]


@pytest.mark.parametrize("timbre, kit", [("soundfont", 0), ("soundfont", 40), ("additive", 0)])
def test_every_general_midi_drum_of_the_grooves_plays(timbre, kit):
    """A drum the kit lacks renders as exact silence, which no loudness target can lift."""
    for drum in GROOVE_DRUMS:
        audio = create_musical_waveform(notes([drum], [0.05], [0.05], Voice.PERCUSSION), SR, seconds=0.6,
                                        loudness_db=-20.0, timbre=timbre, programs={Voice.PERCUSSION: kit})
        assert np.sqrt(np.mean(np.square(audio))) > 0.03, f"drum {drum} is silent on {timbre} (kit {kit})"


def test_the_kit_program_selects_the_kit():
    snare = notes([38], [0.05], [0.05], Voice.PERCUSSION)
    standard, brushes = (create_musical_waveform(snare, SR, seconds=0.6, loudness_db=None, timbre="soundfont",
                                                 programs={Voice.PERCUSSION: kit}) for kit in (0, 40))
    assert not np.allclose(standard, brushes, atol=1e-3)


def test_the_additive_kit_plays_each_drum_as_its_family():
    families = drum_family(np.array([35, 36, 37, 38, 39, 40, 42, 44, 46, 49, 51, 53, 57, 59, 45]))
    assert families.tolist() == [KICK, KICK, SNARE, SNARE, SNARE, SNARE, HIHAT, HIHAT, HIHAT, HIHAT, HIHAT, HIHAT,
                                 HIHAT, HIHAT, SNARE]


def _melody_over_pad_db(arousal: float, comping: bool) -> float:
    """Energy of the melody over the harmony, each rendered alone on the SoundFont (no loudness normalisation)."""
    ratios = []
    for seed in range(2):
        events = compose(0.5, arousal, 8.0, seed=seed, arrangement=Arrangement(comping=comping)).events
        energy = [np.mean(create_musical_waveform(events.select(events.voice == voice), SR, seconds=8.0, loudness_db=None,
                                                  timbre="soundfont").astype(np.float64) ** 2)
                  for voice in (Voice.MELODY, Voice.HARMONY)]
        ratios.append(10 * np.log10(energy[0] / energy[1]))
    return float(np.mean(ratios))


def test_the_held_pad_keeps_its_balance_with_the_melody_from_calm_to_excited():
    """Regression: the pad used to pulse staccato when excited, where its slow attack never blooms, so the
    melody-to-pad balance swung by ~21 dB from calm to excited (and with it the register a listener hears,
    which made arousal read as valence). Held, the swing stays within a few dB; comped (the piano solo's
    way of playing chords) on the same pad, it does not."""
    held = _melody_over_pad_db(0.9, comping=False) - _melody_over_pad_db(0.1, comping=False)
    comped = _melody_over_pad_db(0.9, comping=True) - _melody_over_pad_db(0.1, comping=True)
    assert abs(held) < 8.0 < comped, (held, comped)
