"""A demo bundle on the real EnCodec, built in the background wherever its weights can be had.

Why: the shipped bundle (``checkpoints/demo/``) was trained through a random-init EnCodec because
its builders had no network, so its ``neural`` renderer decodes noise and its latent map means
little. A host that can get EnCodec's weights (``auto``: ``$EMOVAE_ENCODEC_WEIGHTS``, the torch hub
cache, else a download — a Space can) rebuilds the same demo on them once, with the pipeline itself
(:func:`emovae.workflow.run_workflow`), into the app cache, and the app switches its default
checkpoint to it when it is ready; ``synth`` and ``rules`` serve from the shipped bundle meanwhile.
A later start finds the bundle in the cache and switches at once. ``EMOVAE_AUTO_PRETRAINED=0``
switches all of it off.

The build runs in a daemon thread (it dies with the app; the pipeline's worker processes die with
it too, see :mod:`emovae.data.run_lock`), and reports its stage for the page header.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from emovae.app.bundle import BundleMissingError, DemoBundle, ensure_demo_dataset, load_bundle
from emovae.app.codec_status import CodecProbe
from emovae.app.settings import AppSettings

log = logging.getLogger(__name__)
FOLDER = "pretrained-demo"  # inside the app cache: bundle/ (what the app loads) and work/ (the pipeline's folders)


@dataclass(frozen=True)
class BuildStatus:
    """Where the background build stands, in words a visitor can read in the header."""

    state: str  # off | checking | unavailable | building | ready | failed
    message: str

    @property
    def active(self) -> bool:
        return self.state in ("checking", "building")


class PretrainedDemo:
    """Find or build the pretrained-codec demo bundle, then hand it to ``on_ready`` (once)."""

    def __init__(self, settings: AppSettings, shipped: DemoBundle, codecs: CodecProbe,
                 on_ready: Callable[[DemoBundle], None]) -> None:
        self.settings = settings
        self.shipped = shipped
        self.codecs = codecs
        self.on_ready = on_ready
        self.folder = settings.cache_dir / FOLDER
        self.bundle_dir = self.folder / "bundle"
        self.status = BuildStatus("off", "") if not settings.auto_pretrained else BuildStatus("checking", "looking for "
                                                                                              "pretrained EnCodec weights")
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Begin in a daemon thread (no-op when switched off or already started)."""
        with self._lock:
            if not self.settings.auto_pretrained or self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="pretrained-demo", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> BuildStatus:
        """Join the build (tests, benchmarks); returns the final status."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.status

    def _run(self) -> None:
        try:
            self._find_or_build()
        except Exception as exc:  # the app keeps serving the shipped bundle; the header says why
            log.exception("pretrained demo build failed")
            self.status = BuildStatus("failed", f"the pretrained-codec demo could not be built ({type(exc).__name__}: "
                                                f"{str(exc).splitlines()[0][:200]}); the demo stays on the shipped bundle")

    def _find_or_build(self) -> None:
        from emovae.codec.weights import CodecWeightsMissing, load_state_dict, resolve_weights

        try:
            load_state_dict(resolve_weights("auto"))  # a download lands in the torch hub cache for next time
        except CodecWeightsMissing as exc:
            reason = str(exc).split(". ")[0]  # the first sentence; the log has the whole advice
            log.info("no pretrained demo: %s", exc)
            self.status = BuildStatus("unavailable", f"no pretrained EnCodec weights on this host ({reason}); the demo "
                                                     "uses the shipped random-init codec")
            return
        found = self._usable(self.bundle_dir)
        if found is None:
            started = time.monotonic()
            self._build()
            found = self._usable(self.bundle_dir)
            if found is None:
                raise RuntimeError(f"{self.bundle_dir}: the built bundle's codec cannot be built here")
            log.info("pretrained demo built in %.0f s", time.monotonic() - started)
        self.on_ready(found)
        self.status = BuildStatus("ready", f"demo rebuilt on pretrained EnCodec `{found.codec_identity.get('codec_id')}`")

    def _usable(self, folder: Path) -> DemoBundle | None:
        """The bundle in ``folder`` if it is complete and its codec can be built with this host's weights."""
        try:
            bundle = load_bundle(folder)
            vae = bundle.vae_path
        except (BundleMissingError, ValueError):
            return None
        if bundle.codec_identity.get("weights") != "pretrained" or not self.codecs.status(vae).available:
            return None
        return bundle

    def _progress(self, what: str) -> Callable[[int, int, str], None]:
        def report(done: int, total: int, message: str) -> None:
            self.status = BuildStatus("building", f"{what}: {message} ({done}/{total})")
        return report

    def _build(self) -> None:
        from emovae.workflow import WorkflowConfig, run_workflow

        config = self.settings.pretrained_build
        shipped = self.shipped.dataset_params
        params = {"n_songs": config.n_songs or shipped["n_songs"], "seconds": float(config.seconds or shipped["seconds"]),
                  "seed": shipped["seed"] if config.seed is None else int(config.seed)}
        shutil.rmtree(self.bundle_dir, ignore_errors=True)  # a bundle of other weights: its manifest must not survive
        root = ensure_demo_dataset(self.settings.demo_data_dir, params, self._progress("generating the demo dataset"))
        workflow = WorkflowConfig(work_dir=self.folder / "work", demo=True, demo_root=root, demo_songs=params["n_songs"],
                                  demo_seconds=params["seconds"], seed=params["seed"],
                                  chunk_seconds=self.shipped.chunk_seconds, encodec_weights="auto", epochs=config.epochs,
                                  batch_size=config.batch_size, bundle_dir=self.bundle_dir)

        def report(stage: int, stages: int, message: str) -> None:
            self.status = BuildStatus("building", f"stage {stage + 1}/{stages}, {message}")

        run_workflow(workflow, progress=report)
