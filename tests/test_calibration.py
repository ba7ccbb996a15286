"""Engine calibration (descriptors -> engine knobs): the shipped file matches the engine, and it inverts it."""

from __future__ import annotations

import numpy as np
import pytest

from emovae.analysis.descriptors import DESCRIPTOR_NAMES, describe
from emovae.audio import SAMPLE_RATE
from emovae.io import read_json, write_json
from emovae.music.calibration import (
    CALIBRATION_FILE,
    EngineCalibration,
    default_calibration,
    engine_fingerprint,
    fit_calibration,
    random_knobs,
    render_knobs,
)
from emovae.music.params import KNOB_NAMES, PARAM_RANGES

SECONDS = 4.0
MIDDLE = {name: 0.5 * (lo + hi) for name, (lo, hi) in ((n, PARAM_RANGES[n]) for n in KNOB_NAMES)}


def test_shipped_calibration_matches_the_engine_code():
    stored = read_json(CALIBRATION_FILE)
    assert stored["fingerprint"] == engine_fingerprint(), (
        f"{CALIBRATION_FILE.name} was fitted for engine {stored['fingerprint']} but the engine/descriptor code is now "
        f"{engine_fingerprint()}: re-calibrate with `python -m pipeline.calibrate` and commit the new file"
    )
    assert default_calibration().fingerprint == engine_fingerprint()


def test_knobs_are_every_knob_name_inside_its_range_even_for_wild_descriptors():
    calibration = default_calibration()
    rng = np.random.default_rng(0)
    wild = calibration.mean + calibration.scale * rng.normal(0, 10, (50, len(DESCRIPTOR_NAMES)))
    knobs = calibration.knobs(wild)
    assert tuple(knobs) == KNOB_NAMES
    for name, values in knobs.items():
        lo, hi = PARAM_RANGES[name]
        assert values.shape == (50,) and np.all(np.isfinite(values)) and values.min() >= lo and values.max() <= hi, name
    with pytest.raises(ValueError, match=str(len(DESCRIPTOR_NAMES))):
        calibration.knobs(np.zeros((3, len(DESCRIPTOR_NAMES) - 1)))


def test_a_knob_never_falls_as_its_own_descriptor_rises_past_the_engines_pieces():
    """Regression: with squared terms the register knob bent down near the edge of what the calibration
    pieces spanned, so a generated happy piece with a register above all of them was played lower (65 of
    the 74 the rules ask for). The map is linear now: each knob keeps its slope along its descriptor."""
    calibration = default_calibration()
    for knob, descriptor in (("register", "register"), ("loudness_db", "loudness_db"), ("brightness", "brightness")):
        rows = np.repeat(calibration.mean[None, :], 13, axis=0)
        column = DESCRIPTOR_NAMES.index(descriptor)
        rows[:, column] += calibration.scale[column] * np.linspace(0.0, 3.0, 13)  # up to 3 sd above the pieces' mean
        values = calibration.knobs(rows)[knob]
        assert np.all(np.diff(values) >= 0.0), (knob, values)
        assert values[-1] > values[0], (knob, values)


def test_a_fit_is_a_deterministic_linear_map_from_every_descriptor_to_every_knob():
    first, second = fit_calibration(n_pieces=6, seconds=1.0, seed=3), fit_calibration(n_pieces=6, seconds=1.0, seed=3)
    assert first.coef.shape == (len(DESCRIPTOR_NAMES), len(KNOB_NAMES)) and first.intercept.shape == (len(KNOB_NAMES),)
    np.testing.assert_array_equal(first.coef, second.coef)
    assert set(first.training["cv_r2"]) == set(KNOB_NAMES)
    knobs = random_knobs(np.random.default_rng(0))
    assert set(knobs) == set(KNOB_NAMES) and all(PARAM_RANGES[n][0] <= v <= PARAM_RANGES[n][1] for n, v in knobs.items())


def _read_back(knobs: dict) -> dict[str, float]:
    """Render the engine at ``knobs``, describe it, and ask the calibration which knobs it hears (seed-averaged)."""
    calibration = default_calibration()
    readings = [calibration.knobs(describe(render_knobs(knobs, SECONDS, seed=seed), SAMPLE_RATE).mean(axis=0))
                for seed in (0, 1)]
    return {name: float(np.mean([r[name] for r in readings])) for name in KNOB_NAMES}


@pytest.mark.parametrize(
    "knob, low, high",
    [("tempo_bpm", 65.0, 150.0), ("loudness_db", -23.0, -15.0), ("note_density", 0.8, 2.9)],
)
def test_calibration_orders_freshly_rendered_extremes(knob, low, high):
    slow, fast = _read_back({**MIDDLE, knob: low}), _read_back({**MIDDLE, knob: high})
    span = PARAM_RANGES[knob][1] - PARAM_RANGES[knob][0]
    assert fast[knob] - slow[knob] > 0.15 * span, (knob, slow[knob], fast[knob])


def test_save_load_round_trip_and_a_calibration_for_other_knobs_is_refused(tmp_path):
    calibration = default_calibration()
    path = calibration.save(tmp_path / "calibration.json")
    again = EngineCalibration.load(path)
    x = calibration.mean[None, :] + calibration.scale[None, :] * np.linspace(-1, 1, 4)[:, None]
    for name in KNOB_NAMES:
        np.testing.assert_allclose(again.knobs(x)[name], calibration.knobs(x)[name])
    data = read_json(path)
    write_json(tmp_path / "old.json", {**data, "knobs": list(KNOB_NAMES[:-1])})
    with pytest.raises(ValueError, match="pipeline.calibrate"):
        EngineCalibration.load(tmp_path / "old.json")
