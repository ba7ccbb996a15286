"""Weight resolution: explicit path, env var, hub cache, and the clear error when nothing is available."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from emovae.codec import CHECKPOINT_NAME, CHECKPOINT_URL, ENV_VAR, CodecWeightsMissing, load_codec
from emovae.codec import weights as weights_module
from emovae.codec.encodec_codec import build_model
from emovae.codec.weights import WeightsSource, hub_checkpoint_path, resolve_weights


@pytest.fixture
def offline_empty_hub(tmp_path, monkeypatch):
    """No cached checkpoint (hub dir is an empty temp folder) and no network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # so get_dir() re-reads TORCH_HOME

    def no_network(*args, **kwargs):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    return tmp_path


def test_missing_pretrained_weights_raise_an_actionable_error(offline_empty_hub):
    expected_at = hub_checkpoint_path()
    assert str(expected_at).startswith(str(offline_empty_hub))
    with pytest.raises(CodecWeightsMissing) as info:
        load_codec("auto")
    message = str(info.value)
    for needed in (CHECKPOINT_NAME, str(expected_at), CHECKPOINT_URL, ENV_VAR, "--encodec-weights", "random"):
        assert needed in message


def test_auto_never_falls_back_to_random(offline_empty_hub):
    assert resolve_weights("auto").kind == "pretrained"
    with pytest.raises(CodecWeightsMissing):
        load_codec(None)


def test_explicit_missing_path_names_the_file(tmp_path):
    with pytest.raises(CodecWeightsMissing, match="nope.th"):
        load_codec(str(tmp_path / "nope.th"))


def _save_random_state(path: Path, seed: int) -> str:
    torch.save(build_model(WeightsSource("random", None, seed), None).state_dict(), path)
    return load_codec("random", seed=seed).identity["weights_hash"]


def test_weights_from_an_explicit_file_or_the_env_var_are_loaded(tmp_path, offline_empty_hub, monkeypatch):
    expected_hash = _save_random_state(tmp_path / "my_encodec.th", seed=3)
    from_path = load_codec(str(tmp_path / "my_encodec.th")).identity
    assert from_path["weights"] == "pretrained" and from_path["weights_hash"] == expected_hash
    assert from_path["codec_id"] == f"pretrained-{expected_hash}"
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "my_encodec.th"))
    assert load_codec("auto").identity == from_path


def test_a_checkpoint_in_the_hub_cache_is_used_without_network(offline_empty_hub, monkeypatch):
    cached = hub_checkpoint_path()
    cached.parent.mkdir(parents=True)
    expected_hash = _save_random_state(cached, seed=4)
    monkeypatch.setattr(weights_module, "_check_checksum", lambda path, checksum: None)  # not the genuine file
    assert resolve_weights("pretrained").path == cached
    assert load_codec("pretrained").identity["weights_hash"] == expected_hash


def test_a_corrupt_official_checkpoint_is_reported(offline_empty_hub):
    cached = hub_checkpoint_path()
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not a checkpoint")
    with pytest.raises(CodecWeightsMissing, match="corrupt"):
        load_codec("auto")
