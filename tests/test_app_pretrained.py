"""The pretrained-codec demo: built in the background where EnCodec's weights can be had, the
default switches to it, ``neural`` decodes with that codec, and a restart finds it in the cache."""

from __future__ import annotations

import time

import pytest

from emovae.app.root import AppServices
from emovae.app.settings import AppSettings
from pretrained_helpers import pretrained_settings, weights_file  # tests/ is on sys.path under pytest
from test_app_bundle import shared_tiny_bundle

pytestmark = pytest.mark.timeout(900)


def test_the_background_build_switches_the_default_and_neural_decodes_with_that_codec(tmp_path_factory, monkeypatch):
    from emovae.codec.weights import load_state_dict, resolve_weights, state_dict_hash

    bundle_dir, _ = shared_tiny_bundle(tmp_path_factory)
    settings = pretrained_settings(tmp_path_factory, bundle_dir)  # built once per session (see pretrained_helpers)
    monkeypatch.setenv("EMOVAE_ENCODEC_WEIGHTS", str(weights_file(tmp_path_factory)))
    expected = f"pretrained-{state_dict_hash(load_state_dict(resolve_weights('auto')))}"

    # a restart: the bundle is in the app cache, so the switch comes without a rebuild
    services = AppServices.create(settings)
    shipped = services.bundle
    assert shipped.codec_identity["weights"] != "pretrained"
    assert services.generation.renderer_choices() == ["synth", "rules"]  # the shipped bundle's codec is synthetic
    manifest = services.pretrained.bundle_dir / "manifest.json"
    built_at = manifest.stat().st_mtime_ns
    started = time.monotonic()
    services.first_screen()  # the warm-up: first clip and codec check, then the pretrained build starts
    assert services.pretrained.wait(timeout=120).state == "ready"
    assert time.monotonic() - started < 120 and manifest.stat().st_mtime_ns == built_at  # found, not rebuilt
    assert services.bundle.codec_identity["codec_id"] == expected != shipped.codec_identity["codec_id"]
    assert "Rebuilt on this host on the real EnCodec" in services.status_markdown()
    assert not services.header_changing
    assert "neural" in services.generation.renderer_choices()
    clip = services.generation.generate("demo", 0.7, 0.7, seconds=2, renderer="neural")
    assert clip.info["renderer"] == "neural" and clip.info["codec_id"] == expected
    assert abs(clip.audio).max() > 0
    assert services.checkpoints.latent_map("demo") is services.bundle.latent_map  # uploads use the new map too


def test_without_weights_or_when_switched_off_the_shipped_bundle_stays(tmp_path_factory, tmp_path, monkeypatch):
    bundle_dir, _ = shared_tiny_bundle(tmp_path_factory)
    monkeypatch.setenv("EMOVAE_ENCODEC_WEIGHTS", str(tmp_path / "missing.th"))
    services = AppServices.create(AppSettings(bundle_dir=bundle_dir, cache_dir=tmp_path / "cache", auto_pretrained=True))
    assert services.header_changing and "Looking for pretrained EnCodec weights" in services.status_markdown()
    services.pretrained.start()
    status = services.pretrained.wait(timeout=120)
    assert status.state == "unavailable" and "missing.th" in status.message
    assert not services.header_changing and services.bundle.folder == bundle_dir
    assert not (tmp_path / "cache" / "pretrained-demo" / "bundle").exists()

    monkeypatch.setenv("EMOVAE_AUTO_PRETRAINED", "0")
    assert AppSettings.from_env().auto_pretrained is False
    monkeypatch.setenv("EMOVAE_AUTO_PRETRAINED", "sometimes")
    with pytest.raises(ValueError, match="EMOVAE_AUTO_PRETRAINED='sometimes': use on or off"):
        AppSettings.from_env()
    monkeypatch.delenv("EMOVAE_AUTO_PRETRAINED")
    assert AppSettings.from_env().auto_pretrained is True  # the app's default: on
