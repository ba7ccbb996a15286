"""Upload-tab logic: where does a visitor's clip sit, in emotion and in the VAE's latent space?

Two independent views, so one can work when the other cannot:

* **emotion**: the bundle's emotion estimator predicts (valence, arousal) from audio features;
* **latent**: EnCodec encodes the clip, the demo VAE's encoder gives the posterior mean (conditioned
  on the estimated emotion, the same way training chunks were encoded with their labels), which is
  pooled over time, joined by the clip's chunk statistics when the VAE has a chunk level, and
  projected with the bundle's PCA, the very projection of the latent map.

Without the checkpoint's codec the latent view is skipped and said so; the nearest chunks then
fall back to the nearest emotion labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from emovae.app import figures
from emovae.app.bundle import LatentMap
from emovae.app.uploads import UploadedClip
from emovae.emotion import quadrant

N_NEIGHBOURS = 5


@dataclass
class UploadAnalysis:
    clip: UploadedClip
    estimate: tuple[float, float]
    position: np.ndarray | None  # (2,) on the latent map, None without the codec
    neighbours: pd.DataFrame  # chunk_id, valence, arousal, distance
    notes: list[str] = field(default_factory=list)
    emotion_image: np.ndarray | None = None  # filled by the caller for display
    latent_figure: object = None

    @property
    def markdown(self) -> str:
        v, a = self.estimate
        lines = [f"**{self.clip.name}** — estimated **V={v:.2f}, A={a:.2f}** ({quadrant(v, a)}), "
                 f"from {self.clip.analysed_seconds:.1f} s of audio."]
        if self.position is not None:
            lines.append(f"Latent map position: ({self.position[0]:.2f}, {self.position[1]:.2f}).")
        lines += [f"ℹ️ {note}" for note in (*self.clip.notes, *self.notes)]
        return "\n\n".join(lines)


def analyse_clip(clip: UploadedClip, estimator, latent_map: LatentMap, model=None, codec=None, codec_reason: str = "") -> UploadAnalysis:
    """Estimate the clip's emotion and, when a codec is given, its latent-map position and neighbours."""
    estimate = tuple(float(x) for x in estimator.predict(clip.audio, clip.sample_rate))
    notes: list[str] = []
    position = None
    if codec is not None and model is not None:
        from emovae.train.latent_map import pooled_posterior_means  # torch: only once a codec is there

        latents = np.asarray(codec.encode(clip.audio[None, :]), dtype=np.float32)
        position = latent_map.project(pooled_posterior_means(model, latents, np.asarray([estimate]))[0])
        order = latent_map.nearest(position, N_NEIGHBOURS)
        distance = np.linalg.norm(latent_map.coords[order] - position[None, :], axis=1)
        notes.append("nearest chunks are nearest on the latent map")
    else:
        notes.append(f"latent map position unavailable ({codec_reason}); nearest chunks are nearest by emotion label")
        d = np.hypot(latent_map.valence - estimate[0], latent_map.arousal - estimate[1])
        order = np.argsort(d)[:N_NEIGHBOURS]
        distance = d[order]
    table = pd.DataFrame({
        "chunk_id": latent_map.chunk_ids[order],
        "valence": np.round(latent_map.valence[order], 3),
        "arousal": np.round(latent_map.arousal[order], 3),
        "distance": np.round(distance, 3),
    })
    return UploadAnalysis(clip, estimate, position, table, notes)


def emotion_image(analysis: UploadAnalysis, latent_map: LatentMap) -> np.ndarray:
    """The emotion map with the training chunks, the nearest ones circled and the clip's estimate."""
    highlight = list(zip(analysis.neighbours["valence"], analysis.neighbours["arousal"]))
    return figures.render_emotion_map(marker=analysis.estimate, points=(latent_map.valence, latent_map.arousal), highlight=highlight)


def latent_figure(analysis: UploadAnalysis, latent_map: LatentMap):
    index = {cid: i for i, cid in enumerate(latent_map.chunk_ids)}
    neighbours = [index[c] for c in analysis.neighbours["chunk_id"] if c in index]
    position = tuple(analysis.position) if analysis.position is not None else None
    return figures.latent_map_figure(latent_map.coords, latent_map.valence, latent_map.arousal, latent_map.chunk_ids,
                                     upload=position, neighbours=neighbours)
