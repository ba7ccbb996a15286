"""How a training run reports progress: a tiny callback protocol instead of log files.

The CLI attaches a tqdm bar; the Gradio app attaches its own callback to draw live curves, and stops a
run by setting the ``stop_event`` passed to :func:`emovae.train.loop.train`. Callbacks are called from
the training thread, so they must be quick (append to a list, update a bar).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from tqdm.auto import tqdm

Metrics = dict[str, Any]


@runtime_checkable
class TrainingCallback(Protocol):
    def on_step(self, step: int, metrics: Metrics) -> None:
        """After every optimiser step; ``metrics`` has epoch, loss, mse, kl, beta, lr."""

    def on_epoch_end(self, epoch: int, metrics: Metrics) -> None:
        """After validation; ``metrics`` is the history row (train_*/val_* total, mse, kl, ...)."""


class Callback:
    """No-op base: subclass and override only the hooks you need."""

    def on_train_begin(self, info: Metrics) -> None:
        """Before the first step; ``info`` has total_steps, start_step, epochs, train/val sizes."""

    def on_step(self, step: int, metrics: Metrics) -> None:
        pass

    def on_epoch_end(self, epoch: int, metrics: Metrics) -> None:
        pass

    def on_finishing(self, done: int, total: int, message: str) -> None:
        """While the end-of-run outputs are made from ``best.pt`` (evaluation, describing every chunk's
        audio for the score decoder: ~25 s on the demo), so a UI can say what the run is doing."""

    def on_train_end(self, result: Any) -> None:
        pass


class HistoryCallback(Callback):
    """Keeps every step and epoch in memory (what a live plot reads)."""

    def __init__(self) -> None:
        self.steps: list[Metrics] = []
        self.epochs: list[Metrics] = []

    def on_step(self, step: int, metrics: Metrics) -> None:
        self.steps.append({"step": step, **metrics})

    def on_epoch_end(self, epoch: int, metrics: Metrics) -> None:
        self.epochs.append(dict(metrics))


class TqdmCallback(Callback):
    """One progress bar over all optimiser steps of the run, with the latest losses as postfix."""

    def __init__(self, **tqdm_kwargs: Any) -> None:
        self.kwargs = {"unit": "step", "dynamic_ncols": True, **tqdm_kwargs}
        self.bar: tqdm | None = None

    def on_train_begin(self, info: Metrics) -> None:
        self.bar = tqdm(total=info["total_steps"], initial=info["start_step"], desc="train", **self.kwargs)

    def on_step(self, step: int, metrics: Metrics) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if step % 10 == 0:
                self.bar.set_postfix(epoch=metrics["epoch"], mse=f"{metrics['mse']:.4f}", kl=f"{metrics['kl']:.4f}")

    def on_epoch_end(self, epoch: int, metrics: Metrics) -> None:
        if self.bar is not None:
            self.bar.write(
                f"epoch {epoch}: train mse {metrics['train_mse']:.4f} kl {metrics['train_kl']:.4f} | "
                f"val mse {metrics['val_mse']:.4f} kl {metrics['val_kl']:.4f}"
            )

    def on_train_end(self, result: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class ProgressCallback(Callback):
    """Epochs as the generic ``progress(done, total, message)`` hook (a background build's status line)."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.epochs = 0

    def on_train_begin(self, info: Metrics) -> None:
        self.epochs = int(info.get("epochs", 0))
        self.progress(0, self.epochs, "training")

    def on_epoch_end(self, epoch: int, metrics: Metrics) -> None:
        self.progress(int(epoch), self.epochs, f"epoch {epoch}, val mse {metrics.get('val_mse', float('nan')):.3f}")


def dispatch(callbacks: list[Any], hook: str, *args: Any) -> None:
    """Call ``hook`` on every callback that has it (plain objects with only on_step are fine)."""
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is not None:
            method(*args)
