"""Where the app reads and writes, what it binds to, and the limits it enforces.

Every folder a visitor can reach is named here, so the path checks in :mod:`emovae.app.paths`
have one source of truth: typed dataset roots must live under ``data_roots`` and typed checkpoints
under ``checkpoint_roots``. Values come from environment variables so a hosted deployment
(Hugging Face Spaces, detected through ``SPACE_ID``) can be configured without code changes.

The SoundFont the Generate tab's clips play (44.1 kHz stereo, General MIDI instruments) is not an
app setting: the music engine reads ``EMOVAE_SOUNDFONT`` itself (:mod:`emovae.music.soundfont`;
unset, pretty_midi's bundled ``TimGM6mb.sf2``; none loadable, the additive instruments). The app only
keys its cached first clip on it (:data:`SOUNDFONT_ENV`), so a new SoundFont gives a new first clip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
# emovae.music.soundfont.SOUNDFONT_ENV, named here because importing the engine at start-up would
# pull in scipy before the page serves (tests/test_app_startup.py); tests/test_app_services.py pins the two equal
SOUNDFONT_ENV = "EMOVAE_SOUNDFONT"


def on_spaces() -> bool:
    """Hugging Face Spaces sets ``SPACE_ID``; there the app must listen on all interfaces."""
    return bool(os.environ.get("SPACE_ID"))


def _env_switch(name: str, default: bool) -> bool:
    """``on``/``off`` (also 1/0, true/false, yes/no) from the environment; anything else is refused by name."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("on", "1", "true", "yes"):
        return True
    if value in ("off", "0", "false", "no"):
        return False
    raise ValueError(f"{name}={os.environ[name]!r}: use on or off")


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default.resolve()


@dataclass(frozen=True)
class PretrainedBuildConfig:
    """How the background pretrained-codec demo bundle is built (``None``: as the shipped bundle was)."""

    n_songs: int | None = None  # None: the shipped bundle's demo dataset (songs, seconds, seed)
    seconds: float | None = None
    seed: int | None = None
    epochs: int = 40  # what checkpoints/demo/ was built with (README: pipeline.run_all --demo ...)
    batch_size: int = 16


@dataclass(frozen=True)
class AppSettings:
    """Everything configurable about one app process.

    ``cache_dir`` holds what the app derives (the regenerated demo dataset, its chunks and latents,
    training runs); ``runs_dir`` sits inside it so run folders are never user-named.
    """

    host: str = LOOPBACK
    port: int = 7860
    bundle_dir: Path = REPO_ROOT / "checkpoints" / "demo"
    checkpoints_dir: Path = REPO_ROOT / "checkpoints"
    data_dir: Path = REPO_ROOT / "data"
    cache_dir: Path = REPO_ROOT / ".cache" / "app"
    max_upload_mb: int = 50
    max_analysed_seconds: float = 30.0
    max_generate_seconds: float = 30.0
    concurrency_limit: int = 2
    max_queue_size: int = 32
    max_parallel_runs: int = 1
    # a shared host can switch training off or limit it: one slot is easy to hold otherwise
    training_enabled: bool = True  # EMOVAE_TRAINING=on|off
    training_cooldown_s: float = 0.0  # EMOVAE_TRAINING_COOLDOWN_S: wait after a session's run ends
    max_training_work: int | None = None  # EMOVAE_TRAINING_MAX_WORK: cap on epochs x chunks per run
    # bounded disk: every response leaves files in Gradio's cache (clips, images, uploads) and every
    # run a folder of checkpoints; both are deleted once old
    cache_max_age_s: int = 3600  # EMOVAE_CACHE_MAX_AGE_S: Gradio cache files older than this are deleted
    max_kept_runs: int = 20  # EMOVAE_MAX_KEPT_RUNS: finished run folders kept (the oldest go first)
    hosted: bool = False
    # Gradio's usage telemetry (a version check and event reports over the network, in threads that
    # compete with start-up for the CPU): off unless the host asks for it (GRADIO_ANALYTICS_ENABLED=true)
    gradio_analytics: bool = False
    # a demo bundle on the real EnCodec, built in the background where its weights can be had
    # (emovae.app.pretrained). Off unless asked for: the app turns it on from the environment
    # (EMOVAE_AUTO_PRETRAINED, default on), tests and library users opt in.
    auto_pretrained: bool = False
    pretrained_build: PretrainedBuildConfig = PretrainedBuildConfig()
    extra_data_roots: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def runs_dir(self) -> Path:
        return self.cache_dir / "runs"

    @property
    def demo_data_dir(self) -> Path:
        return self.cache_dir / "demo"

    @property
    def data_roots(self) -> tuple[Path, ...]:
        """Folders a typed dataset root may point into (the demo cache is always allowed)."""
        return (self.data_dir, self.demo_data_dir, *self.extra_data_roots)

    @property
    def checkpoint_roots(self) -> tuple[Path, ...]:
        """Folders a typed checkpoint may point into: the shipped ones and this app's own runs."""
        return (self.checkpoints_dir, self.runs_dir)

    @property
    def public_names(self) -> dict[Path, str]:
        """What visitors see instead of each folder's absolute server path."""
        return {self.data_dir: "data", self.checkpoints_dir: "checkpoints", self.cache_dir: "app-cache",
                self.bundle_dir: "demo-bundle", REPO_ROOT: "emovae"}

    @property
    def delete_cache(self) -> tuple[int, int]:
        """``gr.Blocks(delete_cache=(every, age))``: sweep at least twice per ``cache_max_age_s``, at most every 10 min."""
        age = max(1, int(self.cache_max_age_s))
        return max(1, min(600, age // 2)), age

    @property
    def max_file_size(self) -> str:
        """The upload cap in the form ``Blocks.launch(max_file_size=...)`` expects."""
        return f"{self.max_upload_mb}mb"

    @classmethod
    def from_env(cls, host: str | None = None, port: int | None = None) -> "AppSettings":
        """Build settings from ``EMOVAE_*`` variables; loopback unless a host is given or on Spaces."""
        hosted = on_spaces()
        default_host = "0.0.0.0" if hosted else os.environ.get("GRADIO_SERVER_NAME", LOOPBACK)
        return cls(
            host=host or default_host,
            port=port if port is not None else int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
            bundle_dir=_env_path("EMOVAE_BUNDLE_DIR", cls.bundle_dir),
            checkpoints_dir=_env_path("EMOVAE_CHECKPOINTS_DIR", cls.checkpoints_dir),
            data_dir=_env_path("EMOVAE_DATA_DIR", cls.data_dir),
            cache_dir=_env_path("EMOVAE_APP_CACHE", cls.cache_dir),
            max_upload_mb=int(os.environ.get("EMOVAE_MAX_UPLOAD_MB", cls.max_upload_mb)),
            max_analysed_seconds=float(os.environ.get("EMOVAE_MAX_ANALYSED_SECONDS", cls.max_analysed_seconds)),
            concurrency_limit=int(os.environ.get("EMOVAE_CONCURRENCY", cls.concurrency_limit)),
            training_enabled=_env_switch("EMOVAE_TRAINING", cls.training_enabled),
            training_cooldown_s=float(os.environ.get("EMOVAE_TRAINING_COOLDOWN_S", cls.training_cooldown_s)),
            max_training_work=int(os.environ["EMOVAE_TRAINING_MAX_WORK"]) if os.environ.get("EMOVAE_TRAINING_MAX_WORK") else None,
            cache_max_age_s=int(os.environ.get("EMOVAE_CACHE_MAX_AGE_S", cls.cache_max_age_s)),
            max_kept_runs=int(os.environ.get("EMOVAE_MAX_KEPT_RUNS", cls.max_kept_runs)),
            hosted=hosted,
            gradio_analytics=_env_switch("GRADIO_ANALYTICS_ENABLED", False),
            auto_pretrained=_env_switch("EMOVAE_AUTO_PRETRAINED", True),
        )
