"""The Generate tab's MIDI download: a ``.mid`` beside each synth/rules clip, none (with the reason) for
neural, and old ones pruned with their WAVs.

The service runs on a tiny untrained VAE whose codec is the random-init EnCodec (so ``neural`` really
decodes) with a hand-built score decoder; the catalog and codec probe are stand-ins (the Gradio wiring
is tested through the HTTP API in ``tests/test_app_api.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
import torch

from emovae.analysis.descriptors import DESCRIPTOR_NAMES
from emovae.app.codec_status import CodecStatus
from emovae.app.generation import KEEP_CLIPS, NO_MIDI, prune
from emovae.app.generation_service import SINGLE_MODE, GenerationService
from emovae.app.settings import AppSettings
from emovae.model import ConditionalVAE, VAEConfig, save_checkpoint
from emovae.model.score import FEATURES_PER_CHANNEL, SCORE_DECODER_FILE, ScoreDecoder
from emovae.music.calibration import default_calibration
from emovae.music.midi import PPQ

pytestmark = pytest.mark.timeout(300)


class OneCheckpoint:
    def __init__(self, path: Path) -> None:
        self.file = path

    def path(self, label) -> Path:
        return self.file


class CodecBuildable:
    def status(self, checkpoint: Path) -> CodecStatus:
        return CodecStatus(True, "random-init EnCodec")


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    from emovae.codec import load_codec

    identity = load_codec("random", seed=0).identity
    torch.manual_seed(0)
    model = ConditionalVAE(VAEConfig(latent_dim=8, stage_channels=(16, 16), stage_strides=(4, 2), cond_hidden=8)).eval()
    folder = tmp_path_factory.mktemp("app-midi")
    checkpoint = folder / "vae.pt"
    save_checkpoint(checkpoint, model, {"codec": identity, "epoch": 0, "metrics": {}, "chunk_seconds": 5})
    calibration, n_features = default_calibration(), FEATURES_PER_CHANNEL * int(identity["channels"])
    ScoreDecoder(np.zeros(n_features), np.ones(n_features), calibration.mean.copy(), calibration.scale.copy(),
                 np.zeros((n_features, len(DESCRIPTOR_NAMES))), int(identity["frame_rate"]),
                 identity["codec_id"]).save(folder / SCORE_DECODER_FILE)
    return GenerationService(AppSettings(cache_dir=folder / "cache"), OneCheckpoint(checkpoint), CodecBuildable(),
                             clips_dir=folder / "clips")


def outputs(service, renderer: str):
    return service.generate_outputs("demo", SINGLE_MODE, 0.7, 0.6, 0.5, 0.5, renderer, 2, 0, 1.0)


@pytest.mark.parametrize("renderer", ["synth", "rules"])
def test_a_composed_clip_comes_with_its_midi_file_as_long_as_the_wav(service, renderer):
    wav, download, info, _map, midi = outputs(service, renderer)
    assert download == wav and midi == str(Path(wav).with_suffix(".mid"))
    audio, sr = sf.read(wav)
    assert sr == 44_100 and audio.shape == (2 * 44_100, 2)  # what the page plays: 44.1 kHz stereo
    file = mido.MidiFile(midi)
    assert file.length == pytest.approx(len(audio) / sr, abs=60.0 / 58 / PPQ)
    assert {t.name for t in file.tracks} >= {"melody", "harmony", "bass"}
    assert NO_MIDI not in info


def test_a_neural_clip_has_no_midi_and_says_why(service):
    wav, _download, info, _map, midi = outputs(service, "neural")
    assert midi is None and not Path(wav).with_suffix(".mid").exists()
    assert (sf.info(wav).samplerate, sf.info(wav).channels) == (24_000, 1)  # what the codec decodes
    assert "no MIDI file" in info and "neural" in info and "no score" in info


def test_old_midi_files_go_with_their_wavs_and_leftovers_too(tmp_path):
    for index in range(KEEP_CLIPS + 10):
        for suffix in (".wav", ".mid"):
            (tmp_path / f"emovae-calm-{index:04d}{suffix}").write_bytes(b"x")
    (tmp_path / "emovae-sad-orphan.mid").write_bytes(b"x")  # its WAV is gone (an interrupted request)
    prune(tmp_path)
    wavs, mids = sorted(tmp_path.glob("emovae-*.wav")), sorted(tmp_path.glob("emovae-*.mid"))
    assert len(wavs) == KEEP_CLIPS and [p.with_suffix(".wav") for p in mids] == wavs


def test_the_service_prunes_midi_files_as_it_generates(service):
    clips = service.clips_dir
    for index in range(KEEP_CLIPS):  # older clips of earlier requests, oldest first
        for suffix in (".wav", ".mid"):
            old = clips / f"emovae-calm-old{index:04d}{suffix}"
            old.write_bytes(b"x")
            os.utime(old, (1_000_000 + index, 1_000_000 + index))
    _wav, _download, _info, _map, midi = outputs(service, "synth")
    wavs = {p.stem for p in clips.glob("emovae-*.wav")}
    mids = {p.stem for p in clips.glob("emovae-*.mid")}
    assert len(wavs) == KEEP_CLIPS and mids <= wavs and Path(midi).stem in mids
    assert not (clips / "emovae-calm-old0000.mid").exists() and not (clips / "emovae-calm-old0000.wav").exists()
    assert (clips / f"emovae-calm-old{KEEP_CLIPS - 1:04d}.mid").exists()
