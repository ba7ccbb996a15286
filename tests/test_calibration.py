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


def test_beyond_the_fitted_box_the_map_keeps_its_slope_instead_of_bending():
    """Inside the box of descriptors the engine's pieces spanned the map is quadratic; beyond it,
    linear (each square continues along its tangent). A VAE sample read as a negative onset rate
    once turned calm music staccato through the onset rate's square."""
    calibration = default_calibration()
    assert np.all(calibration.low < calibration.mean) and np.all(calibration.mean < calibration.high)

    def second_differences(start: np.ndarray, direction: float) -> dict[str, float]:
        """Second difference of each knob along three equal steps, where no knob hit its range."""
        rows = start[None, :] + direction * calibration.scale[None, :] * np.array([0.1, 0.2, 0.3])[:, None]
        knobs = calibration.knobs(rows)
        inside = {n: v for n, v in knobs.items() if np.all((v > PARAM_RANGES[n][0]) & (v < PARAM_RANGES[n][1]))}
        return {n: float(v[0] - 2 * v[1] + v[2]) for n, v in inside.items()}

    for edge, direction in ((calibration.low, -1.0), (calibration.high, 1.0)):
        beyond = second_differences(edge, direction)
        assert beyond and all(abs(d) < 1e-9 for d in beyond.values()), beyond  # linear past the edge
        within = second_differences(calibration.mean, direction)
        assert max(abs(d) for d in within.values()) > 1e-4, within  # still quadratic inside


def test_a_fit_records_the_box_its_pieces_spanned():
    calibration = fit_calibration(n_pieces=6, seconds=1.0, seed=3)
    pieces = np.random.default_rng([3, 0xCA1])
    described = []
    for i in range(6):
        knobs = random_knobs(pieces)
        described.append(describe(render_knobs(knobs, 1.0, seed=3 * 100_003 + i), SAMPLE_RATE).mean(axis=0))
    np.testing.assert_allclose(calibration.low, np.min(described, axis=0))
    np.testing.assert_allclose(calibration.high, np.max(described, axis=0))


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
