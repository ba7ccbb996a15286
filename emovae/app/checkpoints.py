"""Which checkpoints a session may generate with, and the files that belong to each.

Shared by three tabs: Generate samples the session's checkpoint, Training adds the session's own
runs to the list, and Upload analyses with the same checkpoint's VAE and *its* latent map (every
training run writes ``latent_map.npz`` beside its checkpoints), so an upload is placed among the
chunks the visitor's model was trained on, not the demo's.
"""

from __future__ import annotations

from pathlib import Path

from emovae.app.bundle import DemoBundle, LatentMap
from emovae.app.paths import resolve_checkpoint
from emovae.app.settings import AppSettings
from emovae.app.training import TrainingRuns
from emovae.checks import text_value

DEMO_CHECKPOINT = "demo"


class CheckpointCatalog:
    """The demo bundle's VAE, shipped checkpoints and this session's runs, by the label a session stores."""

    def __init__(self, settings: AppSettings, bundle: DemoBundle | None, bundle_error: str | None,
                 runs: TrainingRuns) -> None:
        self.settings = settings
        self.bundle = bundle
        self.bundle_error = bundle_error
        self.runs = runs
        self._latent_maps: dict[tuple[Path, int], LatentMap] = {}

    def path(self, label: str | None) -> Path:
        """``demo`` (or empty) or a path inside the checkpoint folders (re-checked on every use)."""
        if not label or label == DEMO_CHECKPOINT:
            if self.bundle is None:
                raise FileNotFoundError(f"no demo checkpoint: {self.bundle_error}")
            return self.bundle.vae_path
        return resolve_checkpoint(label, self.settings.checkpoint_roots)

    def choices(self, owner: str) -> list[str]:
        """The demo, shipped checkpoints, and this session's own runs (others' runs stay private)."""
        choices = [DEMO_CHECKPOINT] if self.bundle is not None else []
        root = self.settings.checkpoints_dir
        demo = self.bundle.vae_path if self.bundle is not None else None
        if root.is_dir():
            choices += [str(p.relative_to(root)) for p in sorted(root.rglob("*.pt")) if p != demo]
        for state in self.runs.owned_by(owner):  # relative to the runs folder, a checkpoint root
            choices += [str(p.relative_to(self.settings.runs_dir)) for p in state.checkpoints()]
        return choices

    def select(self, choice: str | None, typed: str | None) -> str:
        """Validate the chosen or typed checkpoint and return the label the session stores."""
        from emovae.generate.generator import get_generator

        label = text_value(typed, "checkpoint path").strip() or text_value(choice, "checkpoint").strip()
        if not label:
            raise ValueError("choose a checkpoint from the list or type a path")
        if label != DEMO_CHECKPOINT:
            path = resolve_checkpoint(label, self.settings.checkpoint_roots)
            get_generator(path)  # load now, so a broken file is reported here, not at generation
            label = str(path)
        return label

    def latent_map(self, label: str | None) -> LatentMap:
        """The latent map of the checkpoint's training chunks (the bundle's for the demo)."""
        if not label or label == DEMO_CHECKPOINT:
            if self.bundle is None:
                raise FileNotFoundError(f"no demo checkpoint: {self.bundle_error}")
            return self.bundle.latent_map
        from emovae.train.artifacts import LATENT_MAP  # lazily: the training stage's imports are heavy

        file = self.path(label).parent / LATENT_MAP
        if not file.is_file():
            raise FileNotFoundError(f"{file}: the checkpoint has no latent map beside it (every training run writes "
                                    f"one); analyse with the demo checkpoint or retrain")
        key = (file.resolve(), file.stat().st_mtime_ns)
        if key not in self._latent_maps:
            self._latent_maps[key] = LatentMap.load(file)
        return self._latent_maps[key]
