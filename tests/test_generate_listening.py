"""Listening output: synth and rules give a listener 44.1 kHz stereo, neural stays at the codec's 24 kHz mono,
and what measures the music reads stereo as its mono fold-down.

The VAE is a tiny untrained one on the random-init EnCodec (so ``neural`` really decodes) with a
hand-built score decoder (typical descriptor values whatever the latent): what is tested is the
plumbing of the listening settings (``emovae/generate/listening.py``) from the CLI to the files.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import soundfile as sf
import torch

from emovae.analysis.descriptors import DESCRIPTOR_NAMES
from emovae.audio import SAMPLE_RATE, to_mono
from emovae.eval.estimator import EmotionEstimator
from emovae.generate import GenerationInputError, GenerationRequest
from emovae.generate.listening import LISTENING_CHANNELS, LISTENING_POLYPHONY, LISTENING_SAMPLE_RATE, ListeningSettings
from emovae.generate.stage import GenerationStageConfig, run_generation
from emovae.io import read_json
from emovae.model import ConditionalVAE, VAEConfig, save_checkpoint
from emovae.model.score import FEATURES_PER_CHANNEL, SCORE_DECODER_FILE, ScoreDecoder
from emovae.music.calibration import default_calibration
from emovae.music.soundfont import MAX_VOICES, SOUNDFONT_ENV, SoundFontUnavailable
from emovae.music.synth import create_melodic_music, render_piece
from pipeline.generate import main

pytestmark = pytest.mark.timeout(300)
SECONDS = 1.5


@pytest.fixture(autouse=True)
def engine_soundfont(monkeypatch):
    """The engine's own default SoundFont: a developer's $EMOVAE_SOUNDFONT must not leak in."""
    monkeypatch.delenv(SOUNDFONT_ENV, raising=False)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from emovae.codec import load_codec

    identity = load_codec("random", seed=0).identity
    torch.manual_seed(0)
    model = ConditionalVAE(VAEConfig(latent_dim=8, stage_channels=(16, 16), stage_strides=(4, 2), cond_hidden=8)).eval()
    path = tmp_path_factory.mktemp("listening") / "vae.pt"
    save_checkpoint(path, model, {"codec": identity, "epoch": 0, "metrics": {}, "chunk_seconds": 5})
    calibration, n_features = default_calibration(), FEATURES_PER_CHANNEL * int(identity["channels"])
    ScoreDecoder(np.zeros(n_features), np.ones(n_features), calibration.mean.copy(), calibration.scale.copy(),
                 np.zeros((n_features, len(DESCRIPTOR_NAMES))), int(identity["frame_rate"]),
                 identity["codec_id"]).save(path.parent / SCORE_DECODER_FILE)
    return path


def default_timbre() -> str:
    """What "auto" plays here: the SoundFont where the synth and a file are installed, else the additive instruments."""
    playable = importlib.util.find_spec("tinysoundfont") is not None and ListeningSettings().soundfont_file() is not None
    return "soundfont" if playable else "additive"


def stage(checkpoint, out, renderer="synth", **listening):
    piece = GenerationRequest(checkpoint, renderer=renderer, seconds=SECONDS, device="cpu",
                              listening=ListeningSettings(**listening))
    return run_generation(GenerationStageConfig(piece=piece, out_dir=out, emotions=("calm",), show_progress=False)).pieces[0]


@pytest.mark.parametrize("renderer, rate, channels", [("synth", LISTENING_SAMPLE_RATE, LISTENING_CHANNELS),
                                                      ("rules", LISTENING_SAMPLE_RATE, LISTENING_CHANNELS),
                                                      ("neural", SAMPLE_RATE, 1)])
def test_the_stage_writes_engine_pieces_at_44k_stereo_and_neural_at_the_codecs_24k_mono(checkpoint, tmp_path, renderer,
                                                                                    rate, channels):
    piece = stage(checkpoint, tmp_path, renderer)
    info = sf.info(piece.wav)
    assert (info.samplerate, info.channels, info.frames) == (rate, channels, int(round(SECONDS * rate)))
    data, _ = sf.read(piece.wav)
    if channels == 2:
        assert not np.allclose(data[:, 0], data[:, 1], atol=1e-3)  # a real stereo mix, not mono copied twice
    recorded = read_json(piece.wav.with_suffix(".json"))["info"]
    assert (recorded["sample_rate"], recorded["channels"]) == (rate, channels)
    assert recorded["timbre"] == (None if renderer == "neural" else default_timbre())  # the timbre that played


def test_the_sidecar_names_the_additive_timbre_when_asked_for_and_a_new_timbre_is_rendered_anew(checkpoint, tmp_path):
    additive = stage(checkpoint, tmp_path, "rules", timbre="additive")
    recorded = read_json(additive.wav.with_suffix(".json"))["info"]
    assert recorded["timbre"] == "additive" and recorded["soundfont"] is None and recorded["channels"] == 2
    assert stage(checkpoint, tmp_path, "rules", timbre="additive").resumed
    other = stage(checkpoint, tmp_path, "rules")  # same piece, other timbre: not the file on disk
    assert not other.resumed and other.info["timbre"] == default_timbre()
    mono = stage(checkpoint, tmp_path, "rules", sample_rate=SAMPLE_RATE, channels=1, timbre="additive")
    assert not mono.resumed and sf.info(mono.wav).channels == 1 and sf.info(mono.wav).samplerate == SAMPLE_RATE


def test_a_missing_soundfont_stops_the_cli_before_any_work_naming_the_path(checkpoint, tmp_path, capsys, monkeypatch):
    import emovae.generate.stage as stage_module

    def no_work(*_args, **_kwargs):
        raise AssertionError("a generator was loaded")

    monkeypatch.setattr(stage_module, "get_generator", no_work)
    missing, out = tmp_path / "nowhere" / "missing.sf2", tmp_path / "generated"
    for timbre in ("auto", "soundfont", "additive"):
        code = main(["--checkpoint", str(checkpoint), "--soundfont", str(missing), "--timbre", timbre,
                     "--device", "cpu", "--out", str(out)])
        message = capsys.readouterr().err
        assert code == 2 and str(missing) in message and "does not exist" in message and "--soundfont" in message
    assert not out.exists()


def test_auto_without_a_loadable_soundfont_plays_the_additive_instruments_and_soundfont_refuses(checkpoint, tmp_path,
                                                                                                 monkeypatch):
    gone = tmp_path / "gone.sf2"  # a path of its own: the engine warns once per reason
    monkeypatch.setenv(SOUNDFONT_ENV, str(gone))
    with pytest.warns(RuntimeWarning, match="gone.sf2.*additive"):
        piece = stage(checkpoint, tmp_path / "auto", "rules")
    assert piece.info["timbre"] == "additive" and sf.info(piece.wav).channels == 2
    with pytest.raises(SoundFontUnavailable, match="gone.sf2"):
        GenerationRequest(checkpoint, renderer="rules", listening=ListeningSettings(timbre="soundfont")).validated()


@pytest.mark.parametrize("field, value, words", [("timbre", "violin", ["timbre='violin'", "additive"]),
                                                 ("channels", 6, ["channels=6", "1, 2"]),
                                                 ("sample_rate", 100, ["sample_rate=100", "8000"])])
def test_bad_listening_settings_are_refused_by_name(checkpoint, field, value, words):
    with pytest.raises(GenerationInputError) as caught:
        GenerationRequest(checkpoint, listening=ListeningSettings(**{field: value})).validated()
    assert all(word in str(caught.value) for word in words), str(caught.value)


def test_every_listening_field_reaches_the_engine_explicitly():
    """The engine's defaults are the music layer's (and change there): the renderers never rely on them."""
    args = ListeningSettings(32_000, 1, "additive").engine_args()
    assert args == {"sample_rate": 32_000, "channels": 1, "timbre": "additive", "soundfont": None,
                    "polyphony": LISTENING_POLYPHONY}


def test_the_estimator_reads_a_clip_and_the_same_clip_on_both_channels_alike():
    rng = np.random.default_rng(0)
    labels = rng.uniform(0, 1, (8, 2))
    clips = [create_melodic_music(v, a, seconds=2.0, seed=i, timbre="additive") for i, (v, a) in enumerate(labels)]
    estimator = EmotionEstimator().fit(clips, labels[:, 0], labels[:, 1], SAMPLE_RATE)
    mono = create_melodic_music(0.8, 0.3, seconds=2.0, seed=42, timbre="additive")
    expected = estimator.predict(mono, SAMPLE_RATE)
    for stereo in (np.stack([mono, mono]), np.stack([mono, mono], axis=1)):  # channel first (the engine's), frames first
        np.testing.assert_allclose(estimator.predict(stereo, SAMPLE_RATE), expected, rtol=0, atol=1e-12)
    listening = create_melodic_music(0.8, 0.3, seconds=2.0, seed=42, sample_rate=LISTENING_SAMPLE_RATE, channels=2,
                                     timbre="additive")
    np.testing.assert_allclose(estimator.predict(listening, LISTENING_SAMPLE_RATE),
                               estimator.predict(to_mono(listening), LISTENING_SAMPLE_RATE), atol=1e-12)


def test_the_listening_polyphony_reaches_the_soundfont_and_only_thins_dense_pieces():
    """The listener's SoundFont plays fewer voices than the engine's (the slider's latency): a dense
    piece (every voice busy) loses only the oldest release tails, far below the piece; a sparse one
    is the engine's sound bit for bit; and polyphony=MAX_VOICES is the engine's sound."""
    pytest.importorskip("tinysoundfont")
    from emovae.music import EmotionCurve

    def play(valence, arousal, polyphony):
        return render_piece(EmotionCurve(valence, arousal, 6.0), seed=0, sample_rate=LISTENING_SAMPLE_RATE, channels=2,
                            timbre="soundfont", polyphony=polyphony).audio.astype(np.float64)

    assert LISTENING_POLYPHONY < MAX_VOICES
    args = ListeningSettings(polyphony=MAX_VOICES).engine_args()
    engine = render_piece(EmotionCurve(0.9, 0.9, 6.0), seed=0, **{k: v for k, v in args.items() if k != "polyphony"})
    np.testing.assert_array_equal(play(0.9, 0.9, args["polyphony"]), engine.audio)
    dense, thinned = play(0.9, 0.9, MAX_VOICES), play(0.9, 0.9, LISTENING_POLYPHONY)
    difference_db = 10 * np.log10(np.mean((thinned - dense) ** 2) / np.mean(dense**2))
    assert not np.array_equal(thinned, dense)  # it does thin the tails ...
    assert difference_db < -18.0, difference_db  # ... and only the tails (-43 dB on this piece, -22 to -28 on the presets)
    np.testing.assert_array_equal(play(0.1, 0.1, LISTENING_POLYPHONY), play(0.1, 0.1, MAX_VOICES))


@pytest.mark.parametrize("value", [0, 4, 1000, 24.5])
def test_a_bad_polyphony_is_refused_by_name(value):
    with pytest.raises(GenerationInputError, match="polyphony"):
        ListeningSettings(polyphony=value).validated()


def test_the_resume_key_names_the_polyphony_where_a_soundfont_plays():
    assert ListeningSettings(timbre="additive").key()["polyphony"] is None
    if ListeningSettings().soundfont_file() is not None:
        assert ListeningSettings().key()["polyphony"] == LISTENING_POLYPHONY
        assert ListeningSettings(polyphony=MAX_VOICES).key() != ListeningSettings().key()
