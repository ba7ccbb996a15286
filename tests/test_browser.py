"""A real headless Chromium drives the app: it loads, a preset and a map click make new music.

Uses Debian's system ``chromium`` through Playwright's Python API (no browser download). Skipped,
with the reason, only when that browser is not installed (``scripts/install_browser.sh`` installs it).
Screenshots go to ``$EMOVAE_SCREENSHOTS`` (default ``.cache/screenshots/``) for a human to look at.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from pathlib import Path

import pytest

from emovae.app.figures import GEOMETRY
from emovae.app.settings import REPO_ROOT, AppSettings
from test_app_bundle import shared_tiny_bundle  # tests/ is on sys.path under pytest

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
AUDIO_SRC = "() => { const a = document.querySelector('#generated-audio audio'); return a ? a.currentSrc || a.src : ''; }"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240),
              pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (apt-get install chromium)")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    bundle_dir, cache_dir = shared_tiny_bundle(tmp_path_factory)
    tmp = tmp_path_factory.mktemp("browser")
    settings = AppSettings(port=free_port(), bundle_dir=bundle_dir, checkpoints_dir=tmp, data_dir=tmp, cache_dir=cache_dir)
    with serving(settings) as address:
        yield address


@contextlib.contextmanager
def serving(settings: AppSettings):
    """The app on ``settings.port`` for the block's duration; yields its URL."""
    import app as app_module

    demo, services = app_module.create_app(settings)
    app_module.serve(demo, services, settings, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{settings.port}/"
    finally:
        demo.close()


@pytest.fixture()
def page(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1400, "height": 1100},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def screenshot_dir() -> Path:
    folder = Path(os.environ.get("EMOVAE_SCREENSHOTS", REPO_ROOT / ".cache" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def slider_value(page, elem_id: str) -> float:
    return float(page.locator(f"#{elem_id} input[type=number]").first.input_value())


def test_first_screen_plays_and_a_preset_and_a_map_click_generate(url, page):
    page.goto(url, wait_until="load")
    page.wait_for_selector("#generate-button", timeout=30_000)
    page.wait_for_function(f"({AUDIO_SRC})().includes('/file=')", timeout=30_000)
    first = page.evaluate(AUDIO_SRC)
    assert first.endswith(".wav"), "the first screen should already hold a playable clip"

    page.click("#preset-sad")
    page.wait_for_function(f"(prev) => ({AUDIO_SRC})() !== prev && ({AUDIO_SRC})().includes('emovae-sad')",
                           arg=first, timeout=30_000)
    assert slider_value(page, "valence") == 0.0 and slider_value(page, "arousal") == 0.0
    assert page.evaluate("() => document.querySelector('#generated-audio audio').readyState") >= 0
    # the clip's MIDI file is offered beside its WAV
    page.wait_for_function("() => [...document.querySelectorAll('#generated-midi a')].some("
                           "a => a.href.includes('emovae-sad') && a.href.includes('.mid'))", timeout=30_000)

    # click the map where (V, A) = (0.85, 0.8): the image may be scaled, so aim in displayed pixels
    image = page.locator("#emotion-map img")
    # the map is redrawn after each generate: wait until the new picture has loaded (naturalWidth 0 until then)
    page.wait_for_function("() => { const i = document.querySelector('#emotion-map img'); "
                           "return i !== null && i.complete && i.naturalWidth > 0; }", timeout=30_000)
    box = image.bounding_box()
    natural = page.evaluate("() => document.querySelector('#emotion-map img').naturalWidth")
    scale = box["width"] / natural
    x, y = GEOMETRY.to_pixel(0.85, 0.8)
    before = page.evaluate(AUDIO_SRC)
    image.click(position={"x": x * scale, "y": y * scale})
    page.wait_for_function(f"(prev) => ({AUDIO_SRC})() !== prev && ({AUDIO_SRC})().includes('emovae-happy')",
                           arg=before, timeout=30_000)
    assert slider_value(page, "valence") == pytest.approx(0.85, abs=0.02)
    assert slider_value(page, "arousal") == pytest.approx(0.8, abs=0.02)
    page.wait_for_timeout(1500)  # let the waveform/spectrogram plot draw before the screenshot
    shot = screenshot_dir() / "generate.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000


def test_visiting_the_dataset_tab_opens_the_demo_dataset(url, page):
    page.goto(url, wait_until="load")
    page.wait_for_selector("#generate-button", timeout=30_000)
    page.get_by_role("tab", name="Dataset").click()
    summary = page.locator("text=/4 songs with static labels/")
    summary.wait_for(timeout=60_000)  # no button pressed: the tab itself opened the bundled dataset
    assert page.locator("#chunk-map img").count() == 1
    page.screenshot(path=str(screenshot_dir() / "dataset.png"), full_page=True)


def test_visiting_the_dataset_tab_a_map_click_plays_a_chunk_rendered_on_demand(url, page):
    page.goto(url, wait_until="load")
    page.wait_for_selector("#generate-button", timeout=30_000)
    page.get_by_role("tab", name="Dataset").click()
    page.wait_for_function("() => { const i = document.querySelector('#chunk-map img'); "
                           "return i !== null && i.complete && i.naturalWidth > 0; }", timeout=60_000)
    image = page.locator("#chunk-map img")
    box = image.bounding_box()
    scale = box["width"] / page.evaluate("() => document.querySelector('#chunk-map img').naturalWidth")
    x, y = GEOMETRY.to_pixel(0.5, 0.5)
    image.click(position={"x": x * scale, "y": y * scale})
    page.wait_for_function("() => { const a = document.querySelector('#chunk-audio audio'); "
                           "return a !== null && (a.currentSrc || a.src).length > 0; }", timeout=30_000)
    assert page.locator("text=/chunk \\*?\\*?\\d+_\\d+|song \\d+, /").count() >= 1


@pytest.fixture(scope="module")
def pretrained_url(tmp_path_factory):
    """The app on a cache holding the pretrained-codec demo built from the stand-in weights."""
    from pretrained_helpers import pretrained_settings, weights_file

    bundle_dir, _ = shared_tiny_bundle(tmp_path_factory)
    tmp = tmp_path_factory.mktemp("browser-pretrained")
    settings = pretrained_settings(tmp_path_factory, bundle_dir, port=free_port(), checkpoints_dir=tmp, data_dir=tmp)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMOVAE_ENCODEC_WEIGHTS", str(weights_file(tmp_path_factory)))
        with serving(settings) as address:
            yield address


def test_the_default_switches_to_the_pretrained_codec_demo_and_neural_plays_it(pretrained_url, page):
    page.goto(pretrained_url, wait_until="load")
    page.wait_for_selector("#generate-button", timeout=30_000)
    page.locator("text=/Rebuilt on this host on the real EnCodec/").wait_for(timeout=120_000)  # the header switched
    neural = page.locator("#renderer input[value='neural']")
    neural.wait_for(timeout=60_000)  # the renderer choices now include neural
    neural.check()
    before = page.evaluate(AUDIO_SRC)
    page.click("#generate-button")
    page.wait_for_function(f"(prev) => ({AUDIO_SRC})() !== prev && ({AUDIO_SRC})() !== ''", arg=before, timeout=60_000)
    page.locator("#clip-info", has_text="renderer neural").wait_for(timeout=30_000)
    assert "pretrained-" in page.locator("#clip-info").inner_text()
    page.screenshot(path=str(screenshot_dir() / "pretrained-neural.png"), full_page=True)
