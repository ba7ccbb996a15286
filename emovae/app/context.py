"""One app process's state and the handlers the UI calls (plain data in, plain data out).

:class:`AppContext` ties the pieces together: settings, the demo bundle (or why it is missing),
the clip generator and its caches, opened datasets, training runs, and what the codec allows.
Each method is a few lines delegating to a focused module, so ``app.py`` only wires components
and every behaviour can be tested without starting a server.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from emovae.app import figures
from emovae.app.bundle import BundleMissingError, DemoBundle, ensure_demo_dataset, load_bundle
from emovae.app.dataset import DatasetView, prepare_dataset
from emovae.app.generation import GeneratedClip, build_request, generate_clip
from emovae.app.paths import public_text, register_public_names, resolve_checkpoint, resolve_dataset_root
from emovae.app.training import RunAccessError, RunState, TrainingRuns
from emovae.audio import SAMPLE_RATE, load_audio
from emovae.checks import choice_of, text_value
from emovae.emotion import DEAM_STATIC_RANGE
from emovae.generate.generator import get_generator
from emovae.generate.render import RENDERER_HELP

log = logging.getLogger(__name__)
Progress = Callable[[int, int, str], None]
DEMO = "demo"
DEMO_CHECKPOINT = "demo"
SINGLE_MODE = "single emotion"
TRAJECTORY_MODE = "trajectory A → B"
CHUNK_SECONDS = (5, 10)  # what the Dataset tab offers (the Radio's choices and the API's)


@dataclass(frozen=True)
class CodecStatus:
    """Whether the codec a checkpoint names can be built here, and the sentence to show if not."""

    available: bool
    description: str
    reason: str = ""


def describe_codec(identity: dict) -> str:
    if not identity:
        return "unknown codec"
    kind = "pretrained Meta EnCodec 24 kHz" if identity.get("weights") == "pretrained" else "random-init EnCodec (architecture only)"
    return f"{kind} `{identity.get('codec_id', '?')}`"


def check_codec(checkpoint: Path, identity: dict) -> CodecStatus:
    """Try to build the checkpoint's codec (cached for later use); a missing one disables only what needs it."""
    description = describe_codec(identity)
    if not identity:
        return CodecStatus(False, description, "the checkpoint names no codec")
    try:
        get_generator(checkpoint).renderer("neural")
    except Exception as exc:  # CodecWeightsMissing, mismatch, import problems: all mean "not here"
        log.warning("codec %s unavailable: %s", identity.get("codec_id"), exc)
        return CodecStatus(False, description, short_reason(exc, identity))
    return CodecStatus(True, description)


def short_reason(exc: Exception, identity: dict) -> str:
    """One line a visitor understands; the full message goes to the server log."""
    name = type(exc).__name__
    if name == "CodecWeightsMissing":
        return "the pretrained EnCodec weights are not on this machine"
    if "Mismatch" in name:
        return f"no codec on this machine matches the checkpoint's codec `{identity.get('codec_id')}`"
    return f"{name}: {str(exc).splitlines()[0][:160]}"


def data_range_note() -> str:
    """Why the corner presets are extrapolation for a model trained on the real DEAM."""
    (v0, v1), (a0, a1) = DEAM_STATIC_RANGE["valence"], DEAM_STATIC_RANGE["arousal"]
    return (f"Real DEAM songs lie in valence {v0:.2f}–{v1:.2f}, arousal {a0:.2f}–{a1:.2f} (5th–95th percentile of its "
            "static labels; the blue box on the map). The corner presets lie outside it: a model trained on DEAM has "
            "seen no such music and extrapolates there. The demo dataset covers the whole plane.")


class AppContext:
    """Everything the handlers share; create with :meth:`create`."""

    def __init__(self, settings, bundle: DemoBundle | None, bundle_error: str | None) -> None:
        self.settings = settings
        register_public_names(settings.public_names)
        self.bundle = bundle
        self.bundle_error = bundle_error
        self.clips_dir = Path(tempfile.gettempdir()) / "emovae-app" / "clips"  # Gradio may serve files from temp
        self.runs = TrainingRuns(settings.runs_dir, max_parallel=settings.max_parallel_runs,
                                 cooldown_s=settings.training_cooldown_s, keep_runs=settings.max_kept_runs)
        self._datasets: dict[str, DatasetView] = {}
        self._lock = threading.Lock()
        self._codec = CodecStatus(False, "no codec", "no demo bundle")
        self._codec_check: threading.Thread | None = None
        if bundle is not None:
            # Building EnCodec takes a second or more: do it beside start-up, not in front of it.
            self._codec_check = threading.Thread(target=self._check_codec, name="codec-check", daemon=True)
            self._codec_check.start()

    def _check_codec(self) -> None:
        try:
            self._codec = check_codec(self.bundle.vae_path, self.bundle.codec_identity)
        except BundleMissingError as exc:
            self._codec = CodecStatus(False, "no codec", str(exc))

    @property
    def codec(self) -> CodecStatus:
        """What the bundle's codec allows (waits for the start-up check the first time)."""
        if self._codec_check is not None:
            self._codec_check.join()
        return self._codec

    @classmethod
    def create(cls, settings) -> "AppContext":
        try:
            bundle, error = load_bundle(settings.bundle_dir), None
        except (BundleMissingError, ValueError) as exc:
            bundle, error = None, str(exc)
            log.warning("emovae app without demo bundle: %s", exc)
        return cls(settings, bundle, error)

    # ------------------------------------------------------------------ status shown in the header
    def status_markdown(self) -> str:
        if self.bundle is None:
            return f"⚠️ **No demo checkpoint**: {public_text(str(self.bundle_error))}\n\n" + data_range_note()
        line = f"Demo checkpoint trained on the bundled demo dataset · codec: {describe_codec(self.bundle.codec_identity)}."
        if self.bundle.codec_identity.get("weights") == "random":
            line += (" No pretrained EnCodec weights are on this machine, so the demo uses a randomly initialised "
                     "EnCodec: the VAE and the pipeline are real, but `neural` audio is not music — use `synth`.")
        return line + "\n\n" + data_range_note()

    def renderer_choices(self) -> list[str]:
        return ["synth", "rules", "neural"] if self.codec.available else ["synth", "rules"]

    def renderer_note(self) -> str:
        note = " · ".join(f"{name}: {RENDERER_HELP[name]}" for name in ("synth", "rules"))
        if self.codec.available:
            return f"{note} · neural: {RENDERER_HELP['neural']}"
        return f"{note} · neural is disabled: the checkpoint's codec cannot be built here ({self.codec.reason})"

    # ------------------------------------------------------------------------------ checkpoints
    def default_checkpoint_label(self) -> str:
        return DEMO_CHECKPOINT

    def checkpoint_path(self, label: str) -> Path:
        """``demo`` or a path inside the checkpoint folders (re-checked on every use)."""
        if not label or label == DEMO_CHECKPOINT:
            if self.bundle is None:
                raise FileNotFoundError(f"no demo checkpoint: {self.bundle_error}")
            return self.bundle.vae_path
        return resolve_checkpoint(label, self.settings.checkpoint_roots)

    def checkpoint_choices(self, owner: str) -> list[str]:
        """The demo, shipped checkpoints, and this session's own runs (others' runs stay private)."""
        choices = [DEMO_CHECKPOINT] if self.bundle is not None else []
        root = self.settings.checkpoints_dir
        if root.is_dir():
            choices += [str(p.relative_to(root)) for p in sorted(root.rglob("*.pt")) if self.bundle is None or p != self.bundle.vae_path]
        for state in self.runs.owned_by(owner):  # relative to the runs folder, a checkpoint root
            choices += [str(p.relative_to(self.settings.runs_dir)) for p in state.checkpoints()]
        return choices

    def select_checkpoint(self, choice: str | None, typed: str | None, owner: str) -> str:
        """Validate the chosen or typed checkpoint and return the label the session stores."""
        label = text_value(typed, "checkpoint path").strip() or text_value(choice, "checkpoint").strip()
        if not label:
            raise ValueError("choose a checkpoint from the list or type a path")
        if label != DEMO_CHECKPOINT:
            path = resolve_checkpoint(label, self.settings.checkpoint_roots)
            get_generator(path)  # load now, so a broken file is reported here, not at generation
            label = str(path)
        return label

    # ------------------------------------------------------------------------------- generation
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
        if renderer == "neural" and not self.codec.available:
            raise ValueError(f"the neural renderer is unavailable: {self.codec.reason}. Use synth.")
        request = build_request(self.checkpoint_path(checkpoint_label), valence, arousal, seconds, seed, temperature,
                                renderer, end, max_seconds=self.settings.max_generate_seconds)
        return generate_clip(request, self.clips_dir, checkpoint_label or DEMO_CHECKPOINT)

    def generate_outputs(self, checkpoint_label, mode, valence, arousal, valence_end, arousal_end, renderer, seconds, seed, temperature):
        """The Generate button: audio path, download path, description, updated emotion map."""
        end = (valence_end, arousal_end) if choice_of(mode, "mode", (SINGLE_MODE, TRAJECTORY_MODE)) == TRAJECTORY_MODE else None
        clip = self.generate(checkpoint_label, valence, arousal, seconds, seed, temperature, renderer, end)
        image = figures.render_emotion_map(
            marker=None if clip.end else clip.emotion, trajectory=(clip.emotion, clip.end) if clip.end else None
        )
        return str(clip.path), str(clip.path), public_text(clip.markdown()), image

    def first_clip(self) -> GeneratedClip | None:
        """The clip the first screen opens with, so the page plays music before any click."""
        if self.bundle is None:
            return None
        try:
            return self.generate(DEMO_CHECKPOINT, 0.8, 0.75, seconds=10, seed=0)
        except Exception as exc:  # the app must still open and explain
            self.bundle_error = f"the demo checkpoint failed to generate: {exc}"
            log.exception("first clip failed")
            return None

    def clip_figure(self, path: str | None):
        """Waveform + spectrogram of a generated clip (only files this app wrote)."""
        if not path:
            return None
        file = Path(path).resolve()
        audio = load_audio(file, SAMPLE_RATE)
        return figures.waveform_spectrogram(audio, SAMPLE_RATE)

    # ---------------------------------------------------------------------------------- datasets
    def bundle_chunk_seconds(self) -> int:
        return self.bundle.chunk_seconds if self.bundle else 5

    def dataset_root(self, text: str, progress: Progress | None = None) -> Path:
        """``demo`` (regenerated on first use) or a typed root inside the data folders."""
        if (text or "").strip().lower() in ("", DEMO):
            if self.bundle is None:
                raise FileNotFoundError(f"no demo dataset without the demo bundle: {self.bundle_error}")
            return ensure_demo_dataset(self.settings.demo_data_dir, self.bundle.dataset_params, progress)
        return resolve_dataset_root(text, self.settings.data_roots)

    def open_dataset(self, text: str, chunk_seconds: int, progress: Progress | None = None) -> tuple[DatasetView, str]:
        chunk_seconds = choice_of(chunk_seconds, "seconds", CHUNK_SECONDS)
        root = self.dataset_root(text_value(text, "root"), progress)
        key = f"{root}|{int(chunk_seconds)}"
        with self._lock:
            view = self._datasets.get(key)
        if view is None:
            view = prepare_dataset(root, self.settings.cache_dir, int(chunk_seconds), progress)
            with self._lock:
                self._datasets[key] = view
        return view, key

    def dataset_view(self, key: str) -> DatasetView:
        with self._lock:
            view = self._datasets.get(key or "")
        if view is None:
            raise LookupError("open a dataset first (Dataset tab → Open dataset)")
        return view

    def dataset_figure(self, view: DatasetView):
        return figures.va_scatter(view.songs, view.chunks, title=f"{view.root.name}: songs and {view.chunk_seconds} s chunks")

    def chunk_map_image(self, view: DatasetView) -> np.ndarray:
        return figures.render_emotion_map(points=(view.chunks["valence"], view.chunks["arousal"]))

    def _play(self, view: DatasetView, row: pd.Series):
        audio = load_audio(view.chunk_audio_path(row["chunk_id"]), SAMPLE_RATE)
        text = (f"chunk **{row['chunk_id']}** (song {int(row['song_id'])}, {row['start_s']:g}–{row['end_s']:g} s) · "
                f"V={row['valence']:.2f}, A={row['arousal']:.2f} ({row['label_source']} label)")
        pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)  # what the browser gets anyway
        return (SAMPLE_RATE, pcm), text

    def play_nearest_chunk(self, key: str, valence: float, arousal: float):
        view = self.dataset_view(key)
        return self._play(view, view.nearest_chunk(valence, arousal))

    def demo_view(self, progress: Progress | None = None) -> DatasetView:
        return self.open_dataset(DEMO, self.bundle_chunk_seconds(), progress)[0]

    def play_chunk(self, key: str, chunk_id: str):
        """A chunk by id from the session's open dataset, or from the demo dataset (upload neighbours)."""
        view = self.dataset_view(key) if key else self.demo_view()
        return self._play(view, view.chunk(text_value(chunk_id, "chunk_id").strip()))

    # ------------------------------------------------------------------------------------ upload
    def analyse_upload(self, path: str | None, progress: Progress | None = None):
        """Validate the upload, estimate its emotion, place it on the demo latent map."""
        from emovae.app import analysis
        from emovae.app.uploads import load_upload

        if self.bundle is None:
            raise FileNotFoundError(f"uploads are analysed with the demo bundle, which is missing: {self.bundle_error}")
        clip = load_upload(path, max_seconds=self.settings.max_analysed_seconds)
        if progress:
            progress(1, 3, "estimating emotion")
        model = codec = None
        if self.codec.available:
            generator = get_generator(self.bundle.vae_path)
            model, codec = generator.sampler.model, generator.renderer("neural").codec
        result = analysis.analyse_clip(clip, self.bundle.estimator, self.bundle.latent_map, model, codec, self.codec.reason)
        if progress:
            progress(3, 3, "drawing maps")
        result.emotion_image = analysis.emotion_image(result, self.bundle.latent_map)
        result.latent_figure = analysis.latent_figure(result, self.bundle.latent_map)
        return result

    # ---------------------------------------------------------------------------------- training
    def run_view(self, run_id: str, owner: str):
        from emovae.app.training import RunView

        return RunView.of(self.runs, run_id, owner)

    def run_status_api(self, run_id: str, owner: str) -> dict:
        state: RunState = self.runs.get(run_id, owner)
        return {"run_id": state.run_id, "status": state.status, "epoch": state.epoch, "total_epochs": state.total_epochs,
                "history": state.history, "error": state.error and public_text(state.error),
                "checkpoints": [str(p.relative_to(self.settings.runs_dir)) for p in state.checkpoints()]}

    def training_intro_markdown(self) -> str:
        from emovae.app.train_launch import training_codec_weights

        pretrained = training_codec_weights() == "auto"
        codec = "pretrained EnCodec (weights found on this machine)" if pretrained else "the random-init EnCodec (no pretrained weights here)"
        rebuild = ""
        if pretrained and self.bundle is not None and self.bundle.codec_identity.get("weights") != "pretrained":
            rebuild = ("\n\n**Pretrained EnCodec weights are available**: start a run on the demo dataset to rebuild the "
                       "demo checkpoint with them (encode + train, with progress), then use its best.pt for generation.")
        s = self.settings
        if not s.training_enabled:
            return "**Training is switched off on this server** (`EMOVAE_TRAINING=off`); generation and the other tabs work."
        limits = [f"one run per session every {s.training_cooldown_s:g} s"] if s.training_cooldown_s > 0 else []
        if s.max_training_work:
            limits.append(f"at most {s.max_training_work:,} epochs × chunks per run")
        limit_text = f" This server allows {' and '.join(limits)}." if limits else ""
        return ("Train a new VAE in the background on the dataset open in the Dataset tab (the demo dataset by "
                f"default). Its chunks are encoded once with {codec}. Only your browser session can see or stop "
                "your run; each run writes to a new folder, and its checkpoints appear below for generation."
                + limit_text + rebuild)

    def start_training(self, owner: str, epochs, batch_size, learning_rate, beta, latent_dim, dataset_key: str = "",
                       progress: Progress | None = None, *, session_open: bool = True) -> RunState:
        """Start a background run for ``owner`` on the session's open dataset (the demo by default).

        ``session_open`` is whether this session was opened by a page load (or ``/open_session``):
        a bare API call gets a throwaway session, and its run could be neither watched nor stopped.
        """
        from emovae.app.train_launch import TrainingRequest, make_launch

        if not self.settings.training_enabled:
            raise RunAccessError("training is switched off on this server (EMOVAE_TRAINING=off)")
        request = TrainingRequest.checked(epochs, batch_size, learning_rate, beta, latent_dim)
        if not session_open:
            raise RunAccessError("a training run needs a session that can watch and stop it: start it from the "
                                 "app page's Training tab (API clients: call /open_session first, in the same session)")
        view = self.dataset_view(dataset_key) if dataset_key else self.demo_view(progress)
        work, cap = request.epochs * len(view.chunks), self.settings.max_training_work
        if cap and work > cap:
            raise ValueError(f"epochs × chunks = {request.epochs} × {len(view.chunks)} = {work:,} is more than this server "
                             f"allows per run ({cap:,}, EMOVAE_TRAINING_MAX_WORK); use at most "
                             f"{max(cap // max(len(view.chunks), 1), 0)} epochs on this dataset")
        return self.runs.start(owner, make_launch(request, view, self.settings.cache_dir), total_epochs=request.epochs)
