"""Where the EnCodec 24 kHz weights come from, and a loud failure when they cannot be had.

The weight spec is resolved in a fixed order so a run is never silently "pretrained on one machine,
random on another":

1. an explicit path (``--encodec-weights PATH``; ``auto`` also honours ``$EMOVAE_ENCODEC_WEIGHTS``),
2. EnCodec's own pretrained checkpoint: first the file already in the torch hub cache (so an offline
   machine with a cached copy works), then a download through EnCodec's loader when online,
3. otherwise :class:`CodecWeightsMissing`, whose message names the file, where it is expected and
   how to provide it offline.

``"random"`` (a fixed-seed random initialisation, same architecture and compute) is only ever used
when asked for by name: tests and offline pipelines opt in explicitly.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from encodec.model import ROOT_URL
from encodec.utils import _check_checksum

# encodec 0.1.1 hard-codes this name inside EncodecModel.encodec_model_24khz(); the part after the
# dash is the sha256 prefix its loader checks.
CHECKPOINT_NAME = "encodec_24khz-d7cc33bc.th"
CHECKPOINT_URL = ROOT_URL + CHECKPOINT_NAME
ENV_VAR = "EMOVAE_ENCODEC_WEIGHTS"

WeightsKind = Literal["pretrained", "random"]


class CodecWeightsMissing(RuntimeError):
    """The pretrained EnCodec weights were asked for (or implied) but cannot be found or fetched."""


@dataclass(frozen=True)
class WeightsSource:
    """A resolved weight spec: what to build, and from which file (``None`` for random init)."""

    kind: WeightsKind
    path: Path | None = None
    seed: int | None = None


def hub_checkpoint_path() -> Path:
    """Where ``torch.hub`` (and so EnCodec's loader) keeps the downloaded checkpoint."""
    return Path(torch.hub.get_dir()) / "checkpoints" / CHECKPOINT_NAME


def resolve_weights(spec: str | os.PathLike | None = "auto", seed: int = 0) -> WeightsSource:
    """Turn a user spec (``auto``/``None``, ``pretrained``, ``random`` or a path) into a source.

    ``pretrained`` resolves to the hub-cache file when present and to ``path=None`` (download
    through EnCodec's loader) otherwise; :func:`load_state_dict` decides whether that can work.
    """
    text = "auto" if spec is None else str(spec).strip()
    key = text.lower()
    if key == "random":
        return WeightsSource("random", None, int(seed))
    if key == "auto":
        from_env = os.environ.get(ENV_VAR, "").strip()
        if from_env:
            return resolve_weights(from_env, seed) if from_env.lower() != "auto" else _pretrained_source()
        return _pretrained_source()
    if key == "pretrained":
        return _pretrained_source()
    return WeightsSource("pretrained", _explicit_file(Path(text).expanduser()), None)


def load_state_dict(source: WeightsSource, allow_download: bool = True) -> dict[str, torch.Tensor] | None:
    """The pretrained state dict for ``source`` (``None`` for random init, which has none)."""
    if source.kind == "random":
        return None
    if source.path is not None:
        return _read_checkpoint(source.path)
    if not allow_download:
        raise CodecWeightsMissing(_missing_message("downloads are disabled for this run"))
    try:
        return torch.hub.load_state_dict_from_url(CHECKPOINT_URL, map_location="cpu", check_hash=True)
    except Exception as exc:  # offline, proxy, DNS, HTTP error, bad hash: all end the same way
        raise CodecWeightsMissing(_missing_message(f"download failed: {type(exc).__name__}: {exc}")) from None


def save_stand_in_weights(path: str | os.PathLike, seed: int = 123) -> Path:
    """Write a state dict of EnCodec's real 24 kHz architecture with seeded random values to ``path``.

    For offline tests and benchmarks of everything that happens once pretrained weights can be had:
    passed as an explicit path (``$EMOVAE_ENCODEC_WEIGHTS``), it is resolved, loaded and identified
    like the real file (``pretrained-<hash>``), only its audio is not music.
    """
    from encodec import EncodecModel

    torch.manual_seed(int(seed))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(EncodecModel.encodec_model_24khz(pretrained=False).state_dict(), target)
    return target


def state_dict_hash(state: dict[str, torch.Tensor]) -> str:
    """A short, stable fingerprint of the weights: same tensors -> same hash, on any machine."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:8]


def _pretrained_source() -> WeightsSource:
    cached = hub_checkpoint_path()
    return WeightsSource("pretrained", cached if cached.is_file() else None, None)


def _explicit_file(path: Path) -> Path:
    """An explicit path may be the checkpoint itself or a folder holding it under its own name."""
    candidate = path / CHECKPOINT_NAME if path.is_dir() else path
    if not candidate.is_file():
        raise CodecWeightsMissing(
            f"EnCodec weights file not found: {candidate}. Pass the 24 kHz checkpoint "
            f"({CHECKPOINT_NAME}, from {CHECKPOINT_URL}) with --encodec-weights PATH or ${ENV_VAR}, "
            "or use --encodec-weights random for an explicit random initialisation."
        )
    return candidate


def _read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    if path.name == CHECKPOINT_NAME:  # the official file: verify it like EnCodec's own loader does
        try:
            _check_checksum(path, CHECKPOINT_NAME.split("-")[1].split(".")[0])
        except RuntimeError as exc:
            raise CodecWeightsMissing(f"{path}: corrupt EnCodec checkpoint ({exc}); delete it and fetch it again "
                                      f"from {CHECKPOINT_URL}") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CodecWeightsMissing(f"{path}: not a readable EnCodec checkpoint ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CodecWeightsMissing(f"{path}: expected an EnCodec state dict, found {type(state).__name__}")
    return state


def _missing_message(reason: str) -> str:
    return (
        f"Pretrained EnCodec 24 kHz weights are missing ({reason}). Expected the file {CHECKPOINT_NAME} at "
        f"{hub_checkpoint_path()} (torch hub cache; set TORCH_HOME to move it). To provide it offline: download "
        f"{CHECKPOINT_URL} on a machine with internet, then copy it to that path, or point --encodec-weights PATH "
        f"or ${ENV_VAR} at it. For tests or offline pipelines without real weights, opt in explicitly with "
        "--encodec-weights random (fixed-seed random initialisation)."
    )
