"""Figures the app shows: the clickable emotion map (a rendered image) and plotly charts.

The emotion map is drawn as a plain RGB image with known pixel geometry rather than as a plotly
chart: Gradio's ``Image.select`` event reports the clicked pixel reliably in every browser, and
:class:`MapGeometry` turns that pixel back into (valence, arousal). Plotly is used where hover,
zoom and legends matter (dataset maps, histograms, curves, waveform + spectrogram).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from emovae.emotion import DEAM_STATIC_RANGE, PRESETS

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

# plotly is imported inside the functions that draw with it: the page a start serves holds no new
# plotly figure (the first clip's comes from the app cache as JSON), and importing plotly and building
# its first Figure costs ~0.4 s on 2 cores that start-up does not need to spend.

# Quadrant colours at the four corners (happy, angry, sad, calm), blended across the plane.
CORNER_RGB = {
    "happy": (255, 214, 102),
    "angry": (239, 99, 81),
    "sad": (99, 130, 201),
    "calm": (120, 200, 150),
}
DATA_RANGE_RGB = (40, 90, 160)  # the box of DEAM's label range on the emotion map
QUADRANT_COLOURS = {name: "rgb({},{},{})".format(*rgb) for name, rgb in CORNER_RGB.items()}


@dataclass(frozen=True)
class MapGeometry:
    """Pixel layout of the emotion-map image: a square plot area inside a margin."""

    size: int = 420
    margin: int = 34

    @property
    def span(self) -> int:
        return self.size - 2 * self.margin

    def to_pixel(self, valence: float, arousal: float) -> tuple[float, float]:
        return self.margin + valence * self.span, self.margin + (1.0 - arousal) * self.span

    def to_emotion(self, x: float, y: float) -> tuple[float, float]:
        """Map a clicked pixel to (valence, arousal), clamping clicks in the margin onto the edge."""
        valence = float(np.clip((float(x) - self.margin) / self.span, 0.0, 1.0))
        arousal = float(np.clip(1.0 - (float(y) - self.margin) / self.span, 0.0, 1.0))
        return round(valence, 2), round(arousal, 2)  # the sliders' resolution


GEOMETRY = MapGeometry()


def _background(geometry: MapGeometry) -> np.ndarray:
    v = np.linspace(0.0, 1.0, geometry.span)[None, :, None]
    a = np.linspace(1.0, 0.0, geometry.span)[:, None, None]
    c = {k: np.array(rgb, dtype=float)[None, None, :] for k, rgb in CORNER_RGB.items()}
    plane = v * a * c["happy"] + (1 - v) * a * c["angry"] + (1 - v) * (1 - a) * c["sad"] + v * (1 - a) * c["calm"]
    plane = 0.55 * plane + 0.45 * 255.0  # pastel, so markers stand out
    image = np.full((geometry.size, geometry.size, 3), 255.0)
    m = geometry.margin
    image[m : m + geometry.span, m : m + geometry.span] = plane
    return image.astype(np.uint8)


def render_emotion_map(
    marker: tuple[float, float] | None = None,
    trajectory: tuple[tuple[float, float], tuple[float, float]] | None = None,
    points: tuple[Sequence[float], Sequence[float]] | None = None,
    highlight: Sequence[tuple[float, float]] = (),
    geometry: MapGeometry = GEOMETRY,
    data_range: dict[str, tuple[float, float]] | None = DEAM_STATIC_RANGE,
) -> np.ndarray:
    """Draw the valence/arousal plane as an RGB array.

    ``points`` are faint context dots (training chunks), ``highlight`` are emphasised dots
    (nearest chunks), ``marker`` is the current emotion and ``trajectory`` an A -> B arrow.
    ``data_range`` is drawn as a box (by default where real DEAM songs lie), so a visitor sees
    that the corners ask a DEAM-trained model for emotions outside its data.
    """
    image = Image.fromarray(_background(geometry))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=13)
    m, s, size = geometry.margin, geometry.span, geometry.size
    for t in (0.25, 0.5, 0.75):
        width = 2 if t == 0.5 else 1
        x, y = m + t * s, m + t * s
        draw.line([(x, m), (x, m + s)], fill=(150, 150, 150), width=width)
        draw.line([(m, y), (m + s, y)], fill=(150, 150, 150), width=width)
    draw.rectangle([m, m, m + s, m + s], outline=(60, 60, 60), width=2)
    for name, (v, a) in PRESETS.items():
        x, y = geometry.to_pixel(v, a)
        dx = -8 if v > 0.5 else 8
        dy = 12 if a > 0.5 else -12
        draw.text((x + dx, y + dy), name, fill=(40, 40, 40), font=font, anchor=("r" if v > 0.5 else "l") + "m")
    draw.text((m + s / 2, size - m / 2), "valence", fill=(40, 40, 40), font=font, anchor="mm")
    label = Image.new("RGBA", (160, 20), (255, 255, 255, 0))
    ImageDraw.Draw(label).text((80, 10), "arousal", fill=(40, 40, 40), font=font, anchor="mm")
    label = label.rotate(90, expand=True)
    image.paste(label, (int(m / 2 - 10), int(m + s / 2 - 80)), label)
    if data_range is not None:
        (v0, v1), (a0, a1) = data_range["valence"], data_range["arousal"]
        (x0, y0), (x1, y1) = geometry.to_pixel(v0, a1), geometry.to_pixel(v1, a0)
        draw.rectangle([x0, y0, x1, y1], outline=DATA_RANGE_RGB, width=2)
        draw.text((x0 + 4, y0 + 3), "DEAM 5-95 %", fill=DATA_RANGE_RGB, font=font, anchor="la")
    if points is not None:
        for v, a in zip(*points):
            x, y = geometry.to_pixel(float(v), float(a))
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=(90, 90, 90))
    for v, a in highlight:
        x, y = geometry.to_pixel(v, a)
        draw.ellipse([x - 5, y - 5, x + 5, y + 5], outline=(20, 20, 20), width=2, fill=(255, 255, 255))
    if trajectory is not None:
        (x0, y0), (x1, y1) = (geometry.to_pixel(*p) for p in trajectory)
        draw.line([(x0, y0), (x1, y1)], fill=(30, 30, 30), width=3)
        draw.ellipse([x0 - 7, y0 - 7, x0 + 7, y0 + 7], fill=(255, 255, 255), outline=(30, 30, 30), width=3)
        draw.text((x0, y0 - 14), "A", fill=(30, 30, 30), font=font, anchor="mm")
        draw.ellipse([x1 - 7, y1 - 7, x1 + 7, y1 + 7], fill=(30, 30, 30))
        draw.text((x1, y1 - 14), "B", fill=(30, 30, 30), font=font, anchor="mm")
    if marker is not None:
        x, y = geometry.to_pixel(*marker)
        draw.ellipse([x - 9, y - 9, x + 9, y + 9], fill=(200, 30, 60), outline=(255, 255, 255), width=3)
    return np.asarray(image)


def va_scatter(songs: pd.DataFrame | None, chunks: pd.DataFrame | None, title: str = "Valence / arousal") -> go.Figure:
    """Songs (static labels) and chunks (dynamic or static labels) on the [0,1] plane, hoverable."""
    import plotly.graph_objects as go

    fig = go.Figure()
    if chunks is not None and len(chunks):
        for source, part in chunks.groupby("label_source"):
            fig.add_trace(
                go.Scattergl(
                    x=part["valence"], y=part["arousal"], mode="markers", name=f"chunks ({source})",
                    marker={"size": 6, "opacity": 0.6}, text=part["chunk_id"],
                    hovertemplate="chunk %{text}<br>V=%{x:.2f} A=%{y:.2f}<extra></extra>",
                )
            )
    if songs is not None and len(songs):
        fig.add_trace(
            go.Scatter(
                x=songs["valence"], y=songs["arousal"], mode="markers", name="songs (static)",
                marker={"size": 10, "symbol": "diamond", "line": {"width": 1, "color": "black"}},
                text=songs["song_id"].astype(str), hovertemplate="song %{text}<br>V=%{x:.2f} A=%{y:.2f}<extra></extra>",
            )
        )
    _unit_axes(fig, title)
    return fig


def _unit_axes(fig: go.Figure, title: str) -> None:
    fig.update_layout(
        title=title, xaxis_title="valence", yaxis_title="arousal", height=420, margin={"l": 40, "r": 10, "t": 40, "b": 40},
        legend={"orientation": "h", "y": -0.2},
    )
    fig.update_xaxes(range=[-0.02, 1.02])
    fig.update_yaxes(range=[-0.02, 1.02])
    fig.add_hline(y=0.5, line={"color": "grey", "dash": "dot"})
    fig.add_vline(x=0.5, line={"color": "grey", "dash": "dot"})


def histograms(chunks: pd.DataFrame) -> go.Figure:
    """Valence and arousal distributions of the chunks, side by side."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("valence", "arousal"))
    for col, name in enumerate(("valence", "arousal"), start=1):
        fig.add_trace(go.Histogram(x=chunks[name], nbinsx=20, name=name, showlegend=False), row=1, col=col)
        fig.update_xaxes(range=[0, 1], row=1, col=col)
    fig.update_layout(height=280, margin={"l": 30, "r": 10, "t": 50, "b": 30})  # room for the Plot label
    return fig


def waveform_spectrogram(audio: np.ndarray, sample_rate: int, title: str = "", max_hz: float = 8000.0) -> go.Figure:
    """Waveform envelope over a dB spectrogram, both downsampled so the figure stays light and fast."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots
    from scipy.signal import spectrogram

    audio = np.asarray(audio, dtype=np.float32)
    hop = max(1, audio.size // 1500)
    frames = audio[: hop * (audio.size // hop)].reshape(-1, hop) if audio.size >= hop else audio[None, :]
    t_wave = np.arange(frames.shape[0]) * hop / sample_rate
    freqs, t_spec, power = spectrogram(audio, fs=sample_rate, nperseg=1024, noverlap=0, mode="psd")
    keep = freqs <= max_hz
    group = max(1, int(np.ceil(keep.sum() / 96)))  # pool bins: ~96 rows is plenty on screen
    rows = keep.sum() // group
    freqs = freqs[keep][: rows * group].reshape(rows, group).mean(axis=1)
    pooled = power[keep][: rows * group].reshape(rows, group, -1).mean(axis=1)
    db = 10.0 * np.log10(pooled + 1e-12)
    db = np.clip(db, db.max() - 80.0, None) if db.size else db
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.35, 0.65], vertical_spacing=0.04)
    line = {"width": 1, "color": "#4c6ef5"}
    fig.add_trace(go.Scatter(x=t_wave, y=frames.max(axis=1), mode="lines", line=line, showlegend=False, hoverinfo="skip"), row=1, col=1)
    fig.add_trace(
        go.Scatter(x=t_wave, y=frames.min(axis=1), mode="lines", line=line, fill="tonexty", showlegend=False, hoverinfo="skip"),
        row=1, col=1,
    )
    fig.add_trace(go.Heatmap(z=np.round(db, 1), x=t_spec, y=freqs, colorscale="Magma", showscale=False), row=2, col=1)
    fig.update_yaxes(title_text="amplitude", row=1, col=1)
    fig.update_yaxes(title_text="Hz", row=2, col=1)
    fig.update_xaxes(title_text="time (s)", row=2, col=1)
    fig.update_layout(title=title, height=380, margin={"l": 50, "r": 10, "t": 40 if title else 10, "b": 40})
    return fig


def latent_map_figure(
    coords: np.ndarray,
    valence: np.ndarray,
    arousal: np.ndarray,
    chunk_ids: Sequence[str],
    upload: tuple[float, float] | None = None,
    neighbours: Sequence[int] = (),
) -> go.Figure:
    """Training chunks in the 2-D PCA of VAE posterior means, coloured by valence, plus an upload."""
    import plotly.graph_objects as go

    fig = go.Figure(
        go.Scattergl(
            x=coords[:, 0], y=coords[:, 1], mode="markers", name="training chunks", text=list(chunk_ids),
            customdata=np.stack([valence, arousal], axis=1),
            marker={"size": 7, "color": valence, "colorscale": "RdYlGn", "cmin": 0, "cmax": 1,
                    "colorbar": {"title": "valence"}, "opacity": 0.7},
            hovertemplate="chunk %{text}<br>V=%{customdata[0]:.2f} A=%{customdata[1]:.2f}<extra></extra>",
        )
    )
    if len(neighbours):
        idx = np.asarray(neighbours, dtype=int)
        fig.add_trace(
            go.Scatter(x=coords[idx, 0], y=coords[idx, 1], mode="markers", name="nearest chunks",
                       marker={"size": 12, "symbol": "circle-open", "line": {"width": 2, "color": "black"}})
        )
    if upload is not None:
        fig.add_trace(
            go.Scatter(x=[upload[0]], y=[upload[1]], mode="markers", name="your clip",
                       marker={"size": 16, "symbol": "star", "color": "crimson", "line": {"width": 1, "color": "black"}})
        )
    fig.update_layout(title="Latent map (PCA of VAE posterior means)", xaxis_title="PC 1", yaxis_title="PC 2",
                      height=420, margin={"l": 40, "r": 10, "t": 40, "b": 40}, legend={"orientation": "h", "y": -0.2})
    return fig


def training_curves(history: pd.DataFrame) -> go.Figure:
    """Total, reconstruction (MSE) and KL losses per epoch, train and validation."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=3, subplot_titles=("total", "MSE", "KL"))
    if history is not None and len(history):
        for col, metric in enumerate(("total", "mse", "kl"), start=1):
            for split, dash in (("train", "solid"), ("val", "dash")):
                key = f"{split}_{metric}"
                if key in history:
                    fig.add_trace(
                        go.Scatter(x=history["epoch"], y=history[key], mode="lines+markers", name=key,
                                   line={"dash": dash}, showlegend=True),
                        row=1, col=col,
                    )
    fig.update_layout(height=300, margin={"l": 40, "r": 10, "t": 40, "b": 30}, legend={"orientation": "h", "y": -0.25})
    return fig
