"""The one progress hook every long stage takes: ``progress(done, total, message)``.

A plain callable rather than a tqdm bar or ``gr.Progress``, so that a library stage knows nothing of
who shows it: the CLIs adapt it to tqdm, the app to its status lines and ``gr.Progress``. ``total``
0 means "no count, just a message".
"""

from __future__ import annotations

from typing import Callable

Progress = Callable[[int, int, str], None]
