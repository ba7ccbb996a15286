"""Emotion -> musical parameters: the music-psychology mappings are monotone, continuous and validated."""

from __future__ import annotations

import numpy as np
import pytest

from emovae.emotion import EmotionValueError
from emovae.music import EmotionCurve, musical_params

GRID = np.linspace(0.0, 1.0, 11)


def _along(axis: str, field: str, other: float) -> np.ndarray:
    if axis == "arousal":
        params = musical_params(np.full(GRID.size, other), GRID)
    else:
        params = musical_params(GRID, np.full(GRID.size, other))
    return np.asarray(getattr(params, field))


@pytest.mark.parametrize("other", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("field", ["tempo_bpm", "note_density", "velocity", "loudness_db", "brightness"])
def test_arousal_raises_tempo_density_loudness_and_brightness(field, other):
    values = _along("arousal", field, other)
    assert np.all(np.diff(values) > 0), f"{field} should rise with arousal at valence={other}: {values}"


@pytest.mark.parametrize("other", [0.0, 0.5, 1.0])
def test_arousal_sharpens_attacks_and_shortens_articulation(other):
    assert np.all(np.diff(_along("arousal", "attack_s", other)) < 0)
    assert np.all(np.diff(_along("arousal", "legato", other)) < 0)
    legato = _along("arousal", "legato", other)
    assert legato[0] >= 1.0 > 0.5 >= legato[-1]  # legato when calm, staccato when excited


@pytest.mark.parametrize("other", [0.0, 0.5, 1.0])
def test_valence_brightens_mode_raises_register_and_consonance(other):
    assert np.all(np.diff(_along("valence", "mode_level", other)) > 0)
    assert np.all(np.diff(_along("valence", "register", other)) > 0)
    assert np.all(np.diff(_along("valence", "dissonance", other)) < 0)


def test_tension_peaks_for_negative_valence_with_high_arousal():
    corners = {name: musical_params(v, a).tension for name, (v, a) in
               {"angry": (0, 1), "happy": (1, 1), "sad": (0, 0), "calm": (1, 0)}.items()}
    assert corners["angry"] == max(corners.values()) > 0.9
    assert max(corners["happy"], corners["sad"], corners["calm"]) < 0.1


def test_scalar_and_curve_inputs_agree():
    curve = musical_params(np.array([0.2, 0.7]), np.array([0.9, 0.1]))
    single = musical_params(0.7, 0.1)
    assert isinstance(single.tempo_bpm, float)
    assert curve.tempo_bpm[1] == pytest.approx(single.tempo_bpm)
    assert curve.register[1] == pytest.approx(single.register)


@pytest.mark.parametrize("bad", [float("nan"), -0.01, 1.2, "loud", [[0.1, 0.2]], []])
def test_bad_emotion_values_are_refused_with_the_name_and_range(bad):
    with pytest.raises(EmotionValueError, match="valence"):
        musical_params(bad, 0.5)


def test_emotion_curve_spans_the_piece_and_interpolates():
    curve = EmotionCurve(np.array([0.0, 1.0]), 0.25, seconds=10.0)
    valence, arousal = curve.at(np.array([0.0, 2.5, 10.0, 99.0]))
    np.testing.assert_allclose(valence, [0.0, 0.25, 1.0, 1.0])
    np.testing.assert_allclose(arousal, 0.25)
    assert curve.mean() == pytest.approx((0.5, 0.25), abs=1e-3)
    with pytest.raises(EmotionValueError, match="seconds"):
        EmotionCurve(0.5, 0.5, seconds=0)


def test_tension_is_not_a_knob_but_follows_the_mode_and_the_activity():
    """Read off a latent, tension came out ~0.5 for every piece (the engine's sound does not identify it),
    giving happy pieces the angry groove; it now follows mode and activity as the rules couple them."""
    from emovae.music.params import KNOB_NAMES, params_from_knobs

    assert "tension" not in KNOB_NAMES
    lively = {"tempo_bpm": 150.0, "note_density": 3.0, "loudness_db": -14.0, "brightness": 0.9, "register": 70.0,
              "legato": 0.45, "percussion": 1.0}
    assert float(params_from_knobs({**lively, "mode_level": 4.0})["tension"]) == 0.0  # major: no tension however lively
    assert float(params_from_knobs({**lively, "mode_level": 0.0})["tension"]) == pytest.approx(1.0)
    calm = {**lively, "note_density": 0.75}
    assert float(params_from_knobs({**calm, "mode_level": 0.0})["tension"]) == 0.0  # dark but still: sad, not angry
    v, a = np.meshgrid(np.linspace(0, 1, 11), np.linspace(0, 1, 11))
    np.testing.assert_allclose(musical_params(v.ravel(), a.ravel()).tension, ((1 - v) * a).ravel(), atol=1e-12)
