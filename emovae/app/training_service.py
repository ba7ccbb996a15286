"""The Training tab: start, watch and stop a session's background run, within the host's limits.

The run's thread does all the slow preparation (writing the dataset's chunk files, generating the
demo dataset once per host, encoding), so Start answers at once and the progress shows in the run's
status; :mod:`emovae.app.training` owns the runs and who may see them.
"""

from __future__ import annotations

from emovae.app.checkpoints import CheckpointCatalog
from emovae.app.dataset_service import DatasetService
from emovae.app.paths import public_text
from emovae.app.settings import AppSettings
from emovae.app.train_launch import TrainingRequest, make_launch, training_codec_weights
from emovae.app.training import RunAccessError, RunState, RunView, TrainingRuns


class TrainingService:
    """Background runs on the session's open dataset (the demo by default)."""

    def __init__(self, settings: AppSettings, runs: TrainingRuns, datasets: DatasetService,
                 checkpoints: CheckpointCatalog) -> None:
        self.settings = settings
        self.runs = runs
        self.datasets = datasets
        self.checkpoints = checkpoints

    def intro_markdown(self, with_codec: bool = True) -> str:
        """What the tab explains; ``with_codec=False`` leaves out which codec encodes (finding out imports torch,
        so the page is built without it and each page load fills it in)."""
        s = self.settings
        if not s.training_enabled:
            return "**Training is switched off on this server** (`EMOVAE_TRAINING=off`); generation and the other tabs work."
        pretrained = with_codec and training_codec_weights() == "auto"
        codec = "pretrained EnCodec (weights found on this machine)" if pretrained else "the random-init EnCodec (no pretrained weights here)"
        if not with_codec:
            codec = "the best EnCodec this machine has"
        rebuild = ""
        bundle = self.checkpoints.bundle
        if pretrained and bundle is not None and bundle.codec_identity.get("weights") != "pretrained":
            rebuild = ("\n\n**Pretrained EnCodec weights are available**: the app rebuilds the demo checkpoint on them in "
                       "the background (progress in the header)." if s.auto_pretrained else
                       "\n\n**Pretrained EnCodec weights are available**: start a run on the demo dataset to rebuild the "
                       "demo checkpoint with them (encode + train, with progress), then use its best.pt for generation.")
        limits = [f"one run per session every {s.training_cooldown_s:g} s"] if s.training_cooldown_s > 0 else []
        if s.max_training_work:
            limits.append(f"at most {s.max_training_work:,} epochs × chunks per run")
        limit_text = f" This server allows {' and '.join(limits)}." if limits else ""
        return ("Train a new VAE in the background on the dataset open in the Dataset tab (the demo dataset by "
                f"default; its audio is generated once, by the first run). Its chunks are encoded once with {codec}. "
                "Only your browser session can see or stop your run; each run writes to a new folder, and its "
                "checkpoints appear below for generation and for the Upload tab." + limit_text + rebuild)

    def start(self, owner: str, epochs, batch_size, learning_rate, beta, latent_dim, dataset_key: str = "", *,
              session_open: bool = True) -> RunState:
        """Start a background run for ``owner`` on the session's open dataset (the demo by default).

        ``session_open`` is whether this session was opened by a page load (or ``/open_session``):
        a bare API call gets a throwaway session, and its run could be neither watched nor stopped.
        """
        if not self.settings.training_enabled:
            raise RunAccessError("training is switched off on this server (EMOVAE_TRAINING=off)")
        request = TrainingRequest.checked(epochs, batch_size, learning_rate, beta, latent_dim)
        if not session_open:
            raise RunAccessError("a training run needs a session that can watch and stop it: start it from the "
                                 "app page's Training tab (API clients: call /open_session first, in the same session)")
        view = self.datasets.view(dataset_key) if dataset_key else self.datasets.demo()
        work, cap = request.epochs * len(view.chunks), self.settings.max_training_work
        if cap and work > cap:
            raise ValueError(f"epochs × chunks = {request.epochs} × {len(view.chunks)} = {work:,} is more than this server "
                             f"allows per run ({cap:,}, EMOVAE_TRAINING_MAX_WORK); use at most "
                             f"{max(cap // max(len(view.chunks), 1), 0)} epochs on this dataset")
        launch = make_launch(request, lambda progress: self.datasets.on_disk(view, progress), self.settings.cache_dir)
        return self.runs.start(owner, launch, total_epochs=request.epochs)

    def stop(self, run_id: str, owner: str) -> RunState:
        return self.runs.stop(run_id, owner)

    def view(self, run_id: str, owner: str) -> RunView:
        return RunView.of(self.runs, run_id, owner)

    def status(self, run_id: str, owner: str) -> dict:
        """The ``/training_status`` API: the run's state with paths relative to the runs folder."""
        state = self.runs.get(run_id, owner)
        return {"run_id": state.run_id, "status": state.status, "epoch": state.epoch, "total_epochs": state.total_epochs,
                "history": state.history, "error": state.error and public_text(state.error),
                "checkpoints": [str(p.relative_to(self.settings.runs_dir)) for p in state.checkpoints()]}
