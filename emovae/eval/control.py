"""Emotion control, measured: does generated music sound like the emotion it was asked for?

Renders a grid of (valence, arousal) targets with several seeds, estimates each clip's emotion with
an :class:`~emovae.eval.estimator.EmotionEstimator`, and reports Spearman rho per axis plus how many
preset clips (unseen seeds) land in their own quadrant. The renderer is any callable
``render(emotion, seed) -> (audio, sample_rate)``, so the same measurement judges the model path,
its ablations and the rules baseline side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from emovae.emotion import PRESETS, quadrant
from emovae.eval.estimator import EmotionEstimator
from emovae.eval.probe import spearman_per_axis

Render = Callable[[tuple[float, float], int], tuple[np.ndarray, int]]
PRESET_SEED_OFFSET = 100  # preset clips use seeds the grid never used


@dataclass
class ControlResult:
    table: pd.DataFrame  # target_valence, target_arousal, seed, est_valence, est_arousal, preset
    rho_valence: float
    rho_arousal: float
    preset_hits: dict[str, int]
    preset_total: int

    @property
    def hits(self) -> int:
        return sum(self.preset_hits.values())

    def summary(self) -> dict:
        return {"rho_valence": self.rho_valence, "rho_arousal": self.rho_arousal, "presets_in_quadrant": self.hits,
                "presets_total": self.preset_total, "preset_hits": dict(self.preset_hits)}


def measure_control(render: Render, estimator: EmotionEstimator, grid: int = 5, seeds: int = 3,
                    progress: Callable[[int, int], None] | None = None) -> ControlResult:
    """Grid ``grid x grid`` over [0, 1]^2 x ``seeds``, plus each preset x ``seeds`` at unseen seeds."""
    levels = np.linspace(0.0, 1.0, grid)
    jobs = [((float(v), float(a)), seed, "") for v in levels for a in levels for seed in range(seeds)]
    jobs += [(PRESETS[name], PRESET_SEED_OFFSET + seed, name) for name in PRESETS for seed in range(seeds)]
    rows = []
    for done, (emotion, seed, preset) in enumerate(jobs, 1):
        audio, sample_rate = render(emotion, seed)
        ev, ea = estimator.predict(audio, sample_rate)
        rows.append({"target_valence": emotion[0], "target_arousal": emotion[1], "seed": seed,
                     "est_valence": ev, "est_arousal": ea, "preset": preset})
        if progress is not None:
            progress(done, len(jobs))
    table = pd.DataFrame(rows)
    on_grid, presets = table[table.preset == ""], table[table.preset != ""]
    hits = {name: int(sum(quadrant(r.est_valence, r.est_arousal) == name for r in presets[presets.preset == name].itertuples()))
            for name in PRESETS}
    rho = spearman_per_axis(on_grid[["target_valence", "target_arousal"]].to_numpy(),
                            on_grid[["est_valence", "est_arousal"]].to_numpy())  # constant estimates read as 0
    return ControlResult(table, rho["rho_valence"], rho["rho_arousal"], hits, int(len(presets)))
