"""Training stage: dataset checks and split, training loop with callbacks, evaluation and figures."""

from emovae.train.callbacks import Callback, HistoryCallback, TqdmCallback, TrainingCallback
from emovae.train.config import TrainConfig
from emovae.train.dataset import DatasetError, LatentDataset, load_latent_dataset, split_by_song
from emovae.train.loop import DatasetChangedError, ResumeError, TrainResult, resume_config, train

__all__ = [
    "Callback",
    "DatasetChangedError",
    "DatasetError",
    "HistoryCallback",
    "LatentDataset",
    "ResumeError",
    "TqdmCallback",
    "TrainConfig",
    "TrainResult",
    "TrainingCallback",
    "load_latent_dataset",
    "resume_config",
    "split_by_song",
    "train",
]
