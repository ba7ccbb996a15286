"""A stand-in for EnCodec's pretrained weights, and one pretrained-codec demo build per test session.

The real ``encodec_24khz-d7cc33bc.th`` cannot be downloaded here, so the tests save a state dict of
the real 24 kHz architecture (seeded random values) and pass it as an explicit path through
``$EMOVAE_ENCODEC_WEIGHTS``: the app then takes the whole "weights can be had" path — resolve,
load, build the bundle with the pipeline, switch the default, decode with that codec — offline.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emovae.app.settings import AppSettings, PretrainedBuildConfig

# 8 songs leave 4 training songs x 3 chunks: the smallest demo the estimator accepts; 2 epochs
TINY_BUILD = PretrainedBuildConfig(n_songs=8, seconds=15.0, epochs=2, batch_size=8)
_BUILT: dict[Path, Path] = {}


def pretrained_settings(tmp_path_factory, bundle_dir: Path, **overrides) -> AppSettings:
    """Settings whose app cache already holds the session's pretrained-codec build (made on first use)."""
    base = tmp_path_factory.getbasetemp()
    if base not in _BUILT:
        from emovae.app.root import AppServices

        from emovae.codec.weights import save_stand_in_weights

        weights = save_stand_in_weights(base / "stand-in" / "encodec_stand_in.th")
        cache = base / "pretrained-cache"
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("EMOVAE_ENCODEC_WEIGHTS", str(weights))
            services = AppServices.create(AppSettings(bundle_dir=bundle_dir, cache_dir=cache, auto_pretrained=True,
                                                      pretrained_build=TINY_BUILD))
            services.pretrained.start()
            status = services.pretrained.wait(timeout=600)
        assert status.state == "ready", status.message
        _BUILT[base] = cache
    return AppSettings(bundle_dir=bundle_dir, cache_dir=_BUILT[base], auto_pretrained=True, pretrained_build=TINY_BUILD,
                       **overrides)


def weights_file(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "stand-in" / "encodec_stand_in.th"
