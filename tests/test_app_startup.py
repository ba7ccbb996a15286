"""What a start does before it serves: no torch and no plotly imported, no Gradio telemetry threads unless
the host asks, and a restart's page holds the first clip exactly as the app cache stored it (the start-up
target, README *Measured*: start → serving)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from emovae.app.root import AppServices
from emovae.app.settings import AppSettings
from test_app_bundle import shared_tiny_bundle  # tests/ is on sys.path under pytest

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[1]
# Imported later, by the handlers that need them: torch (the warm-up, after the server serves) and plotly
# (figures drawn for a request; the first clip's figure reaches the page as the cached JSON).
NOT_BEFORE_SERVING = ("torch", "plotly", "matplotlib", "librosa", "scipy")

RESTART = """
import json, sys
from pathlib import Path
import app
from emovae.app.settings import AppSettings

demo, services = app.create_app(AppSettings(**{k: Path(v) for k, v in json.loads(sys.argv[1]).items()}))
plot = next(b for b in demo.blocks.values() if isinstance(b, app.gr.Plot) and b.label == "Waveform and spectrogram")
print(json.dumps({"imported": [m for m in json.loads(sys.argv[2]) if m in sys.modules], "plot": plot.value,
                  "analytics": demo.analytics_enabled}))
"""


def test_a_restart_builds_its_page_with_the_cached_first_clip_and_without_torch_or_plotly(tmp_path_factory, tmp_path):
    bundle_dir, _ = shared_tiny_bundle(tmp_path_factory)
    paths = {"bundle_dir": bundle_dir, "checkpoints_dir": tmp_path, "data_dir": tmp_path, "cache_dir": tmp_path / "cache"}
    made = AppServices.create(AppSettings(**paths)).first_screen()  # a host's first start left it in the app cache
    assert made is not None

    out = subprocess.run([sys.executable, "-c", RESTART, json.dumps({k: str(v) for k, v in paths.items()}),
                          json.dumps(NOT_BEFORE_SERVING)], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    page = json.loads(out.stdout.strip().splitlines()[-1])
    assert page["imported"] == [] and page["analytics"] is False
    assert page["plot"]["type"] == "plotly" and json.loads(page["plot"]["plot"]) == json.loads(made.figure_json)
    assert [trace["type"] for trace in json.loads(page["plot"]["plot"])["data"]] == [t.type for t in made.figure.data]


def test_gradio_telemetry_is_off_unless_the_host_turns_it_on(monkeypatch):
    monkeypatch.delenv("GRADIO_ANALYTICS_ENABLED", raising=False)
    assert AppSettings().gradio_analytics is False and AppSettings.from_env().gradio_analytics is False
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "True")  # Gradio's own variable and spelling
    assert AppSettings.from_env().gradio_analytics is True


def test_a_stored_figure_reaches_gr_plot_as_it_is():
    """The first start's page load hands the warm-up's figure over the same way (``app.plotly_json``)."""
    import app

    text = '{"data": [{"type": "scatter", "y": [1, 2]}], "layout": {"height": 380}}'
    shipped = app.gr.Plot().postprocess(app.plotly_json(text))
    assert shipped.type == "plotly" and shipped.plot == text
    assert app.plotly_json(None) is None
