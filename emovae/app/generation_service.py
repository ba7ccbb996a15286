"""The Generate tab: from the session's checkpoint and the sliders to a saved, described clip.

Validation and the WAV and MIDI files live in :mod:`emovae.app.generation`; this service adds what the tab needs
around them: which checkpoint a session label means, whether its codec allows ``neural``, the map
click, the first screen's clip and the clip's figure.

The first screen's clip is deterministic (fixed emotion and seed), so it is kept on disk in the app
cache, keyed by a fingerprint of the checkpoint's folder, the package's code and the SoundFont the
engine is told to play (``$EMOVAE_SOUNDFONT``): a restart shows it without importing torch, and only
the very first start of a host renders it (after the page serves). Clips are the engine renderers'
listening output (44.1 kHz stereo WAVs; neural: 24 kHz mono), played from the file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import emovae
from emovae.io import atomic_path, read_json, write_json

from emovae.app import figures
from emovae.app.checkpoints import DEMO_CHECKPOINT, CheckpointCatalog
from emovae.app.codec_status import CodecProbe
from emovae.app.generation import GeneratedClip, build_request, generate_clip
from emovae.app.paths import public_text
from emovae.app.settings import SOUNDFONT_ENV, AppSettings
from emovae.checks import choice_of

SINGLE_MODE = "single emotion"
TRAJECTORY_MODE = "trajectory A → B"
FIRST_CLIP = {"valence": 0.8, "arousal": 0.75, "seconds": 10, "seed": 0}  # what the page opens with


@dataclass
class FirstScreen:
    """The clip the Generate tab opens with: its WAV, description, waveform + spectrogram figure and MIDI file.

    The figure is kept as plotly JSON, as stored in the app cache and as the page ships it: a restart
    shows it without importing plotly or rebuilding the Figure (that alone took ~0.4 s of start-up).
    """

    path: Path
    markdown: str
    figure_json: str  # plotly JSON (``Figure.to_json()``)
    midi: Path | None = None

    @property
    def figure(self):
        """The figure as a plotly Figure (built on each call; the page needs only :attr:`figure_json`)."""
        import plotly.io

        return plotly.io.from_json(self.figure_json)


def code_fingerprint(folder: Path) -> str:
    """Names, sizes and mtimes of the checkpoint folder's files and of the package's code and data,
    and the SoundFont the engine is told to play (the clip's timbre)."""
    package = Path(emovae.__file__).parent
    files = [p for p in Path(folder).iterdir() if p.is_file()]
    files += [p for p in package.rglob("*") if p.suffix in (".py", ".json") and "__pycache__" not in p.parts]
    digest = hashlib.sha1(repr((sorted(FIRST_CLIP.items()), os.environ.get(SOUNDFONT_ENV))).encode())
    for file in sorted(files):
        stat = file.stat()
        digest.update(f"{file}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


class GenerationService:
    """Generate clips with the session's checkpoint; the clips folder is shared (and pruned)."""

    def __init__(self, settings: AppSettings, checkpoints: CheckpointCatalog, codecs: CodecProbe,
                 clips_dir: Path | None = None) -> None:
        self.settings = settings
        self.checkpoints = checkpoints
        self.codecs = codecs
        self.clips_dir = clips_dir or Path(tempfile.gettempdir()) / "emovae-app" / "clips"  # Gradio may serve temp files

    def renderer_choices(self, label: str = DEMO_CHECKPOINT) -> list[str]:
        return ["synth", "rules", "neural"] if self.codecs.status(self.checkpoints.path(label)).available else ["synth", "rules"]

    def renderer_note(self, label: str = DEMO_CHECKPOINT) -> str:
        from emovae.generate.render import RENDERER_HELP  # the renderers' own words (torch: imported after start-up)

        note = " · ".join(f"{name}: {RENDERER_HELP[name]}" for name in ("synth", "rules"))
        codec = self.codecs.status(self.checkpoints.path(label))
        if codec.available:
            return f"{note} · neural: {RENDERER_HELP['neural']}"
        return f"{note} · neural is disabled: the checkpoint's codec cannot be built here ({codec.reason})"

    def click_to_emotion(self, x: float, y: float) -> tuple[float, float]:
        """Map-image pixel -> (valence, arousal); also the ``/click_map`` API."""
        try:
            xf, yf = float(x), float(y)
        except (TypeError, ValueError):
            raise ValueError(f"map click ({x!r}, {y!r}) must be two pixel numbers") from None
        size = figures.GEOMETRY.size
        if not (0 <= xf <= size and 0 <= yf <= size):
            raise ValueError(f"map click ({x}, {y}) is outside the {size}x{size} map image")
        return figures.GEOMETRY.to_emotion(xf, yf)

    def generate(self, checkpoint_label: str, valence, arousal, seconds=10.0, seed=0, temperature=1.0, renderer="synth",
                 end=None) -> GeneratedClip:
        """Validate, generate and save one clip with the session's checkpoint."""
        checkpoint = self.checkpoints.path(checkpoint_label)
        if renderer == "neural":
            codec = self.codecs.status(checkpoint)
            if not codec.available:
                raise ValueError(f"the neural renderer is unavailable: {codec.reason}. Use synth.")
        request = build_request(checkpoint, valence, arousal, seconds, seed, temperature, renderer, end,
                                max_seconds=self.settings.max_generate_seconds)
        return generate_clip(request, self.clips_dir, checkpoint_label or DEMO_CHECKPOINT)

    def generate_outputs(self, checkpoint_label, mode, valence, arousal, valence_end, arousal_end, renderer, seconds, seed,
                         temperature):
        """The Generate button: audio path, WAV download, description, updated emotion map, MIDI download.

        The MIDI download is None for the neural renderer (no score; the description says so). It
        comes last so that API callers reading the first four values by position are unaffected.
        """
        end = (valence_end, arousal_end) if choice_of(mode, "mode", (SINGLE_MODE, TRAJECTORY_MODE)) == TRAJECTORY_MODE else None
        clip = self.generate(checkpoint_label, valence, arousal, seconds, seed, temperature, renderer, end)
        image = figures.render_emotion_map(
            marker=None if clip.end else clip.emotion, trajectory=(clip.emotion, clip.end) if clip.end else None
        )
        midi = str(clip.midi) if clip.midi is not None else None
        return str(clip.path), str(clip.path), public_text(clip.markdown()), image, midi

    def _first_screen_files(self) -> tuple[Path, Path, Path]:
        key = code_fingerprint(self.checkpoints.path(DEMO_CHECKPOINT).parent)
        folder = self.settings.cache_dir / "first-clip"
        return folder / f"{key}.wav", folder / f"{key}.json", folder / f"{key}.mid"

    def cached_first_screen(self) -> FirstScreen | None:
        """The first screen from the app cache (no torch, no plotly, no rendering), or None before it was made here."""
        wav, meta, midi = self._first_screen_files()
        if not (wav.is_file() and meta.is_file()):
            return None
        saved = read_json(meta)
        return FirstScreen(wav, saved["markdown"], saved["figure"], midi if midi.is_file() else None)

    def first_screen(self) -> FirstScreen:
        """The first screen, rendered and stored in the app cache unless it is there already."""
        from emovae.audio import write_wav

        cached = self.cached_first_screen()
        if cached is not None:
            return cached
        c = FIRST_CLIP
        clip = self.generate(DEMO_CHECKPOINT, c["valence"], c["arousal"], seconds=c["seconds"], seed=c["seed"])
        wav, meta, midi = self._first_screen_files()
        write_wav(wav, clip.audio, clip.sample_rate)
        if clip.midi is not None:  # the clips folder is pruned: keep a copy beside the cached WAV
            with atomic_path(midi) as tmp:
                shutil.copyfile(clip.midi, tmp)
        figure = self.clip_figure(str(wav)).to_json()
        markdown = public_text(clip.markdown())
        write_json(meta, {"markdown": markdown, "figure": figure})  # last: it marks the files complete
        return FirstScreen(wav, markdown, figure, midi if clip.midi is not None else None)

    def clip_figure(self, path: str | None):
        """Waveform + spectrogram of a generated clip: its fold-down to mono at 24 kHz (the figure stops at 8 kHz)."""
        from emovae.audio import SAMPLE_RATE, load_audio

        if not path:
            return None
        audio = load_audio(Path(path).resolve(), SAMPLE_RATE)
        return figures.waveform_spectrogram(audio, SAMPLE_RATE)
