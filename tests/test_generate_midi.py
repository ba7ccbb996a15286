"""MIDI export through generation: ``pipeline.generate --midi`` writes ``<name>.mid`` beside ``<name>.wav``.

The VAE is a tiny untrained one with a hand-built score decoder (typical descriptor values whatever
the latent), so the synth renderer runs in a moment; what is tested is the plumbing: the renderer's
score reaches the file, the file lasts as long as the WAV, neural is refused before any work.
"""

from __future__ import annotations

import mido
import numpy as np
import pytest
import soundfile as sf
import torch

pretty_midi = pytest.importorskip("pretty_midi")

from emovae.analysis.descriptors import DESCRIPTOR_NAMES  # noqa: E402
from emovae.generate import MIDI_RENDERERS, GenerationInputError, GenerationRequest, Generator  # noqa: E402
from emovae.generate.stage import GenerationStageConfig, run_generation  # noqa: E402
from emovae.model import ConditionalVAE, VAEConfig, save_checkpoint  # noqa: E402
from emovae.model.score import FEATURES_PER_CHANNEL, SCORE_DECODER_FILE, ScoreDecoder  # noqa: E402
from emovae.music.calibration import default_calibration  # noqa: E402
from emovae.music.midi import PPQ  # noqa: E402
from pipeline.generate import main  # noqa: E402

CHANNELS, FRAME_RATE = 8, 75
CODEC = {"codec_id": "random-s0-test", "weights": "random", "seed": 0, "latent_kind": "continuous", "bandwidth": None,
         "sample_rate": 24000, "frame_rate": FRAME_RATE, "channels": CHANNELS, "weights_hash": "test"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = ConditionalVAE(VAEConfig(in_channels=CHANNELS, latent_dim=4, stage_channels=(16, 16), stage_strides=(4, 2),
                                     cond_hidden=8)).eval()
    path = tmp_path_factory.mktemp("vae") / "best.pt"
    save_checkpoint(path, model, {"codec": CODEC, "epoch": 0, "metrics": {}, "chunk_seconds": 5})
    calibration, n_features = default_calibration(), FEATURES_PER_CHANNEL * CHANNELS
    ScoreDecoder(np.zeros(n_features), np.ones(n_features), calibration.mean.copy(), calibration.scale.copy(),
                 np.zeros((n_features, len(DESCRIPTOR_NAMES))), FRAME_RATE, CODEC["codec_id"]).save(path.parent / SCORE_DECODER_FILE)
    return path


def cli(checkpoint, out, *extra) -> int:
    return main(["--checkpoint", str(checkpoint), "--seconds", "3", "--device", "cpu", "--out", str(out), *extra])


def test_cli_midi_writes_the_score_beside_the_wav_as_long_as_it(checkpoint, tmp_path, capsys):
    out = tmp_path / "generated"
    assert cli(checkpoint, out, "--emotion", "happy", "sad", "--midi") == 0
    assert "happy_synth_seed0.wav + happy_synth_seed0.mid" in capsys.readouterr().out
    for name in ("happy_synth_seed0", "sad_synth_seed0"):
        wav, mid = out / f"{name}.wav", out / f"{name}.mid"
        assert mid.is_file() and wav.is_file()
        audio, sr = sf.read(wav)
        assert sr == 44_100 and audio.shape == (3 * 44_100, 2)  # the listening output: 44.1 kHz stereo
        pm, length = pretty_midi.PrettyMIDI(str(mid)), mido.MidiFile(str(mid)).length
        assert length == pytest.approx(len(audio) / sr, abs=60.0 / 58 / PPQ)  # to within a tick at the slowest tempo
        assert {i.name for i in pm.instruments} >= {"melody", "harmony", "bass"}
        assert sum(len(i.notes) for i in pm.instruments) > 5
        assert pm.key_signature_changes and len(pm.get_tempo_changes()[0]) >= 1
    # without --midi nothing else appears; the file is what the generator's own score gives
    assert cli(checkpoint, tmp_path / "plain", "--emotion", "happy") == 0
    assert not list((tmp_path / "plain").glob("*.mid"))
    piece = Generator.from_checkpoint(checkpoint, "cpu").generate_piece(
        GenerationRequest(checkpoint, emotion="happy", seconds=3, device="cpu"))
    pm = pretty_midi.PrettyMIDI(str(out / "happy_synth_seed0.mid"))
    assert sum(len(i.notes) for i in pm.instruments) == len(piece.score.events)


def test_rules_trajectory_midi_has_the_rising_tempo_and_resumes_only_with_its_midi(checkpoint, tmp_path):
    out = tmp_path / "generated"
    args = ("--renderer", "rules", "--emotion", "0.5,0.0", "--to", "0.5,1.0", "--midi")
    assert cli(checkpoint, out, *args) == 0
    mid = out / "v0.50_a0.00-to-v0.50_a1.00_rules_seed0.mid"
    _, tempi = pretty_midi.PrettyMIDI(str(mid)).get_tempo_changes()
    assert len(tempi) >= 3 and tempi[-1] > tempi[0] + 10  # arousal 0 -> 1: the tempo rises through the file
    config = GenerationStageConfig(piece=GenerationRequest(checkpoint, to="0.5,1.0", renderer="rules", seconds=3, device="cpu"),
                                   out_dir=out, emotions=("0.5,0.0",), midi=True, show_progress=False)
    assert run_generation(config).pieces[0].resumed  # everything is there
    mid.unlink()
    again = run_generation(config).pieces[0]
    assert not again.resumed and again.midi == mid and mid.is_file()  # a missing .mid is made again


def test_cli_midi_with_the_neural_renderer_fails_before_any_work(checkpoint, tmp_path, capsys, monkeypatch):
    import emovae.generate.stage as stage

    def no_work(*_args, **_kwargs):
        raise AssertionError("a generator was loaded")

    monkeypatch.setattr(stage, "get_generator", no_work)
    out = tmp_path / "generated"
    assert cli(checkpoint, out, "--renderer", "neural", "--midi") == 2
    message = capsys.readouterr().err
    assert "MIDI" in message and "composed score" in message and "--renderer synth or rules" in message
    assert not out.exists()
    assert "neural" not in MIDI_RENDERERS and set(MIDI_RENDERERS) == {"synth", "rules"}


def test_a_neural_piece_refuses_to_write_midi(tmp_path):
    from emovae.generate.generator import GeneratedPiece

    piece = GeneratedPiece(np.zeros(10, np.float32), 24_000, np.zeros((8, 1), np.float32), {})
    with pytest.raises(GenerationInputError, match="composed score"):
        piece.write_midi(tmp_path / "x.mid")
    assert not list(tmp_path.iterdir())
