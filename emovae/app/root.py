"""The composition root: one app process's settings, demo bundle and the four tab services.

Each tab's logic is a service that takes plain values and returns plain data, so every behaviour is
testable without Gradio (``app.py`` only lays out components and wires events to these methods):

* :class:`~emovae.app.generation_service.GenerationService` — the Generate tab;
* :class:`~emovae.app.dataset_service.DatasetService` — the Dataset tab;
* :class:`~emovae.app.training_service.TrainingService` — the Training tab;
* :class:`~emovae.app.upload_service.UploadService` — the Upload tab;

and, where EnCodec's weights can be had, the background build of a pretrained-codec demo bundle
(:class:`~emovae.app.pretrained.PretrainedDemo`), which becomes the default checkpoint when ready.

They share three things, built here once: the :class:`CheckpointCatalog` (which checkpoint a
session label means, and its latent map), the :class:`CodecProbe` (whether a checkpoint's codec can
be built) and the training runs.

Start-up order (what keeps a start at a few seconds): nothing here imports torch; the page is built
from what the app cache already holds, and :meth:`AppServices.start_warm_up` then loads the model
stack, makes the first screen's clip (once per host) and checks the codec in a daemon thread while
the server starts. Page-load handlers wait for it (:meth:`AppServices.first_screen`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from emovae.app.bundle import BundleMissingError, DemoBundle, load_bundle
from emovae.app.checkpoints import CheckpointCatalog
from emovae.app.codec_status import CodecProbe, describe_codec
from emovae.app.dataset_service import DatasetService
from emovae.app.generation_service import FirstScreen, GenerationService
from emovae.app.paths import public_text, register_public_names
from emovae.app.pretrained import PretrainedDemo
from emovae.app.settings import AppSettings
from emovae.app.training import TrainingRuns
from emovae.app.training_service import TrainingService
from emovae.app.upload_service import UploadService
from emovae.emotion import DEAM_STATIC_RANGE

log = logging.getLogger(__name__)


def data_range_note() -> str:
    """Why the corner presets are extrapolation for a model trained on the real DEAM."""
    (v0, v1), (a0, a1) = DEAM_STATIC_RANGE["valence"], DEAM_STATIC_RANGE["arousal"]
    return (f"Real DEAM songs lie in valence {v0:.2f}–{v1:.2f}, arousal {a0:.2f}–{a1:.2f} (5th–95th percentile of its "
            "static labels; the blue box on the map). The corner presets lie outside it: a model trained on DEAM has "
            "seen no such music and extrapolates there. The demo dataset covers the whole plane.")


@dataclass
class AppServices:
    """Everything one app process shares; build with :meth:`create`."""

    settings: AppSettings
    bundle_error: str | None
    checkpoints: CheckpointCatalog
    codecs: CodecProbe
    generation: GenerationService
    dataset: DatasetService
    training: TrainingService
    upload: UploadService
    pretrained: PretrainedDemo | None = None
    _first: FirstScreen | None = field(default=None, repr=False)
    _warm: threading.Thread | None = field(default=None, repr=False)
    _warm_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, settings: AppSettings) -> "AppServices":
        register_public_names(settings.public_names)
        try:
            bundle, error = load_bundle(settings.bundle_dir), None
        except (BundleMissingError, ValueError) as exc:
            bundle, error = None, str(exc)
            log.warning("emovae app without demo bundle: %s", exc)
        runs = TrainingRuns(settings.runs_dir, max_parallel=settings.max_parallel_runs,
                            cooldown_s=settings.training_cooldown_s, keep_runs=settings.max_kept_runs)
        if bundle is not None:
            try:
                bundle.vae_path  # the one file everything needs: a bundle without it is no bundle
            except BundleMissingError as exc:
                bundle, error = None, str(exc)
        checkpoints = CheckpointCatalog(settings, bundle, error, runs)
        codecs = CodecProbe()
        datasets = DatasetService(settings, bundle, error)
        services = cls(settings=settings, bundle_error=error, checkpoints=checkpoints, codecs=codecs,
                       generation=GenerationService(settings, checkpoints, codecs), dataset=datasets,
                       training=TrainingService(settings, runs, datasets, checkpoints),
                       upload=UploadService(settings, checkpoints, codecs, datasets))
        if bundle is not None:
            services.pretrained = PretrainedDemo(settings, bundle, codecs, services.switch_default)
        return services

    @property
    def bundle(self) -> DemoBundle | None:
        """The bundle the ``demo`` checkpoint means now (the shipped one, or the pretrained rebuild once ready)."""
        return self.checkpoints.bundle

    def switch_default(self, bundle: DemoBundle) -> None:
        """Make ``bundle`` what ``demo`` means: new generations and uploads use it; open pages keep working."""
        log.info("default checkpoint is now %s (codec %s)", bundle.folder, bundle.codec_identity.get("codec_id"))
        self.checkpoints.bundle = bundle

    def start_warm_up(self) -> None:
        """Load the model stack, make the first screen and check the codec, in a daemon thread (once)."""
        with self._warm_lock:
            if self.bundle is None or self._warm is not None:
                return
            self._warm = threading.Thread(target=self._warm_up, name="warm-up", daemon=True)
            self._warm.start()

    def _warm_up(self) -> None:
        try:
            self._first = self.generation.first_screen()
        except Exception as exc:  # the app must still open and explain
            self.bundle_error = f"the demo checkpoint failed to generate: {exc}"
            log.exception("first clip failed")
        self.codecs.status(self.bundle.vae_path)
        if self.pretrained is not None:
            self.pretrained.start()  # after the first clip: the build must not delay the first screen

    def first_screen(self) -> FirstScreen | None:
        """The first screen's clip once the warm-up made it (waits for it), None if it could not."""
        self.start_warm_up()  # no-op once started
        if self._warm is not None:
            self._warm.join()
        return self._first

    def status_markdown(self) -> str:
        """The header: which checkpoint and codec ``demo`` runs on, and where the pretrained rebuild stands."""
        if self.bundle is None or self.bundle_error:
            return f"⚠️ **No demo checkpoint**: {public_text(str(self.bundle_error))}\n\n" + data_range_note()
        line = f"Demo checkpoint trained on the bundled demo dataset · codec: {describe_codec(self.bundle.codec_identity)}."
        build = self.pretrained.status if self.pretrained is not None else None
        if self.bundle.codec_identity.get("weights") == "pretrained":
            line += " Rebuilt on this host on the real EnCodec: `neural` decodes the VAE's latents into music."
        elif build is not None and build.state == "building":
            line += (f" ⏳ **Rebuilding the demo on pretrained EnCodec in the background** — {public_text(build.message)}. "
                     "`synth` and `rules` serve meanwhile; the demo switches to it when it is ready.")
        elif build is not None and build.state == "checking":
            line += (" Looking for pretrained EnCodec weights to rebuild the demo on the real codec in the background; "
                     "until then `neural` decodes through the random-init codec (noise) — use `synth`.")
        else:
            line += (" No pretrained EnCodec weights are on this machine, so the demo uses a randomly initialised "
                     "EnCodec: the VAE and the pipeline are real, but `neural` audio is not music — use `synth`.")
            if build is not None and build.state == "failed":
                line += f" ⚠️ {public_text(build.message)}."
        return line + "\n\n" + data_range_note()

    @property
    def header_changing(self) -> bool:
        """Whether the header may still change on its own (the page polls it while so)."""
        return self.pretrained is not None and self.pretrained.status.active
