"""Pick the torch device: CUDA when present (``auto``), never required."""

from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> ``cuda`` if available else ``cpu``; explicit names are checked, not trusted."""
    key = (name or "auto").strip().lower()
    if key == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if key.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"--device {name!r} was requested but CUDA is not available; use --device auto or cpu")
    try:
        return torch.device(key)
    except RuntimeError:
        raise ValueError(f"--device {name!r} is not a torch device; use auto, cpu or cuda[:N]") from None
