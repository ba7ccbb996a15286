"""The Upload tab: where a visitor's clip sits, judged by the checkpoint the visitor generates with.

The emotion estimate uses the demo bundle's estimator (audio features → emotion: it does not
depend on any VAE). The latent position uses the session's checkpoint: its codec encodes the clip,
its VAE gives the posterior mean, and *its* latent map (written by the training run beside the
checkpoint) places it among the chunks that model was trained on.
"""

from __future__ import annotations

from emovae.app import analysis
from emovae.app.checkpoints import DEMO_CHECKPOINT, CheckpointCatalog
from emovae.app.codec_status import CodecProbe
from emovae.app.dataset_service import DatasetService
from emovae.app.paths import public_text
from emovae.app.settings import AppSettings
from emovae.app.uploads import load_upload
from emovae.progress import Progress


class UploadService:
    """Analyse uploads with the session's checkpoint; play the nearest training chunks."""

    def __init__(self, settings: AppSettings, checkpoints: CheckpointCatalog, codecs: CodecProbe,
                 datasets: DatasetService) -> None:
        self.settings = settings
        self.checkpoints = checkpoints
        self.codecs = codecs
        self.datasets = datasets

    def intro_markdown(self) -> str:
        s = self.settings
        return (f"Upload a clip (wav / mp3 / ogg / flac, up to {s.max_upload_mb} MB). The first "
                f"{s.max_analysed_seconds:g} s are analysed: the emotion estimator places it on the emotion map, and "
                "EnCodec → VAE posterior mean places it on the latent map of the training chunks of **the checkpoint "
                "you generate with** (the demo's, or the one chosen in the Training tab).")

    def analyse(self, path: str | None, checkpoint_label: str | None = DEMO_CHECKPOINT,
                progress: Progress | None = None) -> analysis.UploadAnalysis:
        """Validate the upload, estimate its emotion, place it on the checkpoint's latent map."""
        from emovae.generate.generator import get_generator

        bundle = self.checkpoints.bundle  # the default checkpoint's bundle: its estimator judges audio, whatever the VAE
        if bundle is None:
            raise FileNotFoundError(f"uploads are analysed with the demo bundle's estimator, which is missing: "
                                    f"{self.checkpoints.bundle_error}")
        label = checkpoint_label or DEMO_CHECKPOINT
        checkpoint = self.checkpoints.path(label)
        latent_map = self.checkpoints.latent_map(label)
        clip = load_upload(path, max_seconds=self.settings.max_analysed_seconds)
        if progress:
            progress(1, 3, "estimating emotion")
        codec = self.codecs.status(checkpoint)
        model = encoder = None
        if codec.available:
            generator = get_generator(checkpoint)
            model, encoder = generator.sampler.model, generator.renderer("neural").codec
        result = analysis.analyse_clip(clip, bundle.estimator, latent_map, model, encoder, codec.reason)
        result.notes.append(public_text(f"analysed with checkpoint `{label}` and its latent map "
                                        f"({len(latent_map.chunk_ids)} training chunks)"))
        if progress:
            progress(3, 3, "drawing maps")
        result.emotion_image = analysis.emotion_image(result, latent_map)
        result.latent_figure = analysis.latent_figure(result, latent_map)
        return result

    def play_neighbour(self, chunk_id, dataset_key: str = ""):
        """A nearest chunk's audio: from the dataset open in the session if it has the chunk, else the demo's.

        A checkpoint trained in this app was trained on the dataset its session had open (the demo
        by default), so that is where its latent map's chunks are.
        """
        if dataset_key:
            view = self.datasets.view(dataset_key)
            if str(chunk_id) in set(view.chunks["chunk_id"].astype(str)):
                return self.datasets.play(view, str(chunk_id))[0]
        return self.datasets.play_chunk("", chunk_id)[0]
