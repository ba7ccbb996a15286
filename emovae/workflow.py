"""The whole pipeline, stage after stage: dataset -> chunks -> latents -> VAE (+ latent map) -> estimator -> music.

Each stage is resumable on its own, so re-running the workflow after an interruption redoes only
what is missing, and nothing stale is reused: encode re-encodes chunks whose audio changed, and a
training run whose latents or labels changed since it was trained is moved aside (to ``<models>.stale``)
and trained afresh instead of resumed (the workflow owns its work dir; ``pipeline.train --resume`` refuses). ``bundle_dir`` additionally packs what the app needs as its embedded default
(``checkpoints/demo/``): the VAE checkpoint, the emotion estimator, the latent map and a manifest
that says how to regenerate the exact demo dataset the checkpoint was trained on.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from emovae import formats
from emovae.codec.identity import read_identity
from emovae.model.score import SCORE_DECODER_FILE
from emovae.io import atomic_path, read_json, write_json
from emovae.progress import Progress

STAGES = ("dataset", "preprocess", "encode", "train", "estimator", "generate")


@dataclass
class WorkflowConfig:
    """Where the data is, where each stage writes, and the few settings a whole run needs."""

    work_dir: Path = Path(".")
    data_root: Path | None = None  # a DEAM root; None with demo=True generates the demo dataset
    demo: bool = False
    demo_songs: int = 40
    demo_seconds: float = 45.0
    demo_root: Path | None = None  # where the demo dataset is generated (default: work_dir/demo_deam); the app shares its own
    seed: int = 0
    chunk_seconds: int = 5
    encodec_weights: str = "auto"  # "random" must be chosen explicitly (see emovae.codec.weights)
    epochs: int = 30
    batch_size: int | None = None  # None keeps TrainConfig's; small datasets (the demo) want ~16
    descriptor_weight: float | None = None  # None keeps TrainConfig's (see pipeline.train --descriptor-weight)
    device: str = "auto"
    bundle_dir: Path | None = None  # write the app's embedded default here (e.g. checkpoints/demo)

    def __post_init__(self) -> None:
        self.work_dir = Path(self.work_dir)
        if self.data_root is None and not self.demo:
            raise ValueError("give a DEAM root (--data) or ask for the generated demo dataset (--demo)")
        if self.data_root is not None and self.demo:
            raise ValueError("--data and --demo exclude each other: the demo dataset is generated, not read")
        if self.demo:
            self._check_demo_size()

    def _check_demo_size(self) -> None:
        """The estimator is fitted on the training songs alone: refuse a demo too small to leave it enough chunks."""
        from emovae.eval.estimator import MIN_TRAINING_CLIPS
        from emovae.train.config import TrainConfig
        from emovae.train.dataset import split_sizes

        defaults = TrainConfig()
        n = int(self.demo_songs)
        train_songs = split_sizes(n, defaults.val_fraction, defaults.test_fraction)[0]
        train_chunks = train_songs * int(float(self.demo_seconds) // int(self.chunk_seconds))
        if train_chunks < MIN_TRAINING_CLIPS:
            raise ValueError(
                f"a demo of {n} songs x {self.demo_seconds:g} s leaves ~{train_chunks} training chunks of "
                f"{self.chunk_seconds} s once validation and test songs are held out; the estimator needs at least "
                f"{MIN_TRAINING_CLIPS}: use more songs (--demo-songs) or longer ones")

    @property
    def dataset_params(self) -> dict:
        return {"n_songs": int(self.demo_songs), "seconds": float(self.demo_seconds), "seed": int(self.seed)}

    def path(self, name: str) -> Path:
        return self.work_dir / name


@dataclass
class WorkflowResult:
    data_root: Path
    checkpoint: Path
    estimator: Path
    latent_map: Path
    generated: list[Path] = field(default_factory=list)
    bundle_dir: Path | None = None
    metrics: dict = field(default_factory=dict)


def run_workflow(config: WorkflowConfig, progress: Progress | None = None) -> WorkflowResult:
    """Run every stage in order; ``progress(done, total, message)`` is called as each stage starts."""
    from emovae.codec.encode import EncodeConfig, run_encode
    from emovae.data.demo import make_demo_dataset
    from emovae.data.preprocess import PreprocessConfig, run_preprocess
    from emovae.eval.estimator import fit_estimator_from_chunks
    from emovae.generate.generator import GenerationRequest
    from emovae.generate.stage import GenerationStageConfig, run_generation
    from emovae.train import TqdmCallback, TrainConfig, train
    from emovae.train.callbacks import ProgressCallback
    from emovae.train.artifacts import LATENT_MAP
    from emovae.train.loop import resume_dataset_change

    def stage(index: int) -> None:
        if progress is not None:
            progress(index, len(STAGES), STAGES[index])

    def within(index: int) -> Progress | None:
        """A stage's own (done, total, message) reports, as one line naming the stage."""
        if progress is None:
            return None
        return lambda done, total, message: progress(index, len(STAGES), f"{STAGES[index]} — {message} ({done}/{total})")

    seconds = int(config.chunk_seconds)
    processed, latents_dir, model_dir = (config.path(formats.DEFAULT_PROCESSED_DIR), config.path(formats.DEFAULT_LATENT_DIR),
                                         config.path(formats.DEFAULT_MODEL_DIR))
    stage(0)
    if config.demo:
        data_root = make_demo_dataset(config.demo_root or config.path("demo_deam"), seed=config.seed, n_songs=config.demo_songs,
                                      seconds=config.demo_seconds, progress=within(0))
    else:
        data_root = Path(config.data_root)
    stage(1)
    preprocessed = run_preprocess(PreprocessConfig(data_root=data_root, out_dir=processed, chunk_seconds=(seconds,)),
                                  progress=within(1))
    if not preprocessed.ok:
        raise RuntimeError(f"preprocessing {data_root} produced no chunks: " + "; ".join(map(str, preprocessed.skipped[:5])))
    stage(2)
    run_encode(EncodeConfig(chunks=processed, out=latents_dir, chunk_seconds=seconds, weights=config.encodec_weights,
                            seed=config.seed, device=config.device), progress=within(2))
    stage(3)
    stale = resume_dataset_change(model_dir, latents_dir, seconds)
    if stale is not None:  # a run of other data: resuming it would ship it as a model of these
        aside = model_dir.with_name(model_dir.name + ".stale")
        if aside.exists():
            shutil.rmtree(aside)
        model_dir.rename(aside)
        if progress is not None:
            progress(3, len(STAGES), f"{STAGES[3]} — the run in {model_dir} was trained on other data ({stale}); "
                                     f"moved it to {aside}, training afresh")
    train_config = TrainConfig(latents=str(latents_dir), out=str(model_dir), chunk_seconds=seconds, epochs=config.epochs,
                               seed=config.seed, device=config.device, resume=(model_dir / "last.pt").is_file(),
                               chunks=str(processed))
    if config.batch_size is not None:
        train_config = train_config.with_overrides(batch_size=int(config.batch_size))
    if config.descriptor_weight is not None:
        train_config = train_config.with_overrides(descriptor_weight=float(config.descriptor_weight))
    callbacks = [TqdmCallback()] + ([ProgressCallback(within(3))] if progress is not None else [])
    trained = train(train_config, callbacks=callbacks)
    checkpoint = trained.best_checkpoint or trained.last_checkpoint
    stage(4)
    estimator_path = model_dir / "estimator.json"
    split = read_json(model_dir / "split.json")  # fitted on training songs only, scored on test songs
    fit_estimator_from_chunks(formats.chunks_dir(processed, seconds), train_songs=split["train_songs"],
                              test_songs=split.get("test_songs")).save(estimator_path)
    latent_map = model_dir / LATENT_MAP  # written by the training stage from the best checkpoint
    stage(5)
    piece = GenerationRequest(checkpoint=checkpoint, seed=config.seed, device=config.device)
    generated = run_generation(GenerationStageConfig(piece=piece, out_dir=config.path("generated"), all_presets=True,
                                                     estimator=estimator_path))
    result = WorkflowResult(data_root=data_root, checkpoint=checkpoint, estimator=estimator_path, latent_map=latent_map,
                            generated=[piece.wav for piece in generated.pieces], metrics=dict(trained.metrics))
    if config.bundle_dir is not None:
        # the checkpoint was trained on these latents, so their identity file names its codec
        trained_codec = read_identity(formats.codec_identity_path(latents_dir, seconds))
        result.bundle_dir = write_bundle(config, result, trained_codec=trained_codec)
    return result


def write_bundle(config: WorkflowConfig, result: WorkflowResult, trained_codec: dict) -> Path:
    """Copy the small artefacts into ``bundle_dir`` and write the manifest the app reads."""
    bundle = Path(config.bundle_dir)
    bundle.mkdir(parents=True, exist_ok=True)
    score_decoder = Path(result.checkpoint).parent / SCORE_DECODER_FILE
    files = ((result.checkpoint, "vae.pt"), (result.estimator, "estimator.json"), (result.latent_map, "latent_map.npz"),
             (score_decoder, SCORE_DECODER_FILE))
    for source, name in files:
        with atomic_path(bundle / name) as tmp:  # an interrupted rebuild never leaves a half-copied file
            shutil.copyfile(source, tmp)
    manifest = {
        "dataset": config.dataset_params if config.demo else {"root": str(result.data_root)},
        "chunk_seconds": int(config.chunk_seconds),
        "codec": trained_codec,
        "vae": "vae.pt",
        "estimator": "estimator.json",
        "latent_map": "latent_map.npz",
        "score_decoder": SCORE_DECODER_FILE,
        "metrics": result.metrics,
        "built_by": {"command": "python -m pipeline.run_all", "seed": config.seed, "epochs": config.epochs,
                     "batch_size": config.batch_size, "encodec_weights": config.encodec_weights,
                     "descriptor_weight": config.descriptor_weight},
    }
    write_json(bundle / "manifest.json", manifest)
    return bundle

