"""The model-driven path: latent -> score decoder -> calibration -> engine, and the ablations that test it.

* ``synth`` plays what the score decoder reads off the latent: a latent read as fast is audibly
  faster; another latent is other music; the requested emotion label alone changes nothing.
* ``rules`` is the opposite baseline: the emotion drives it and the latent is ignored.
* ``noise`` / ``shuffled`` ablations make the latents they say, and ``--save-latent`` stores them.

The score decoder here is built by hand (a known reading of the latent), so the tests say exactly
what the renderer must do with it; the VAE is a tiny untrained one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emovae.analysis.descriptors import DESCRIPTOR_NAMES, describe
from emovae.audio import to_mono
from emovae.eval.ablations import ABLATIONS
from emovae.generate.generator import GenerationRequest, Generator
from emovae.generate.render import RulesRenderer, SynthRenderer
from emovae.generate.sampler import EmotionPath, GenerationInputError
from emovae.model import ConditionalVAE, VAEConfig, save_checkpoint
from emovae.model.modules import FiLM
from emovae.model.score import FEATURES_PER_CHANNEL, SCORE_DECODER_FILE, ScoreDecoder
from emovae.music.calibration import default_calibration

CHANNELS = 8
FRAME_RATE = 75
CODEC = {"codec_id": "random-s0-test", "weights": "random", "seed": 0, "latent_kind": "continuous", "bandwidth": None,
         "sample_rate": 24000, "frame_rate": FRAME_RATE, "channels": CHANNELS, "weights_hash": "test"}
CHANNEL_MEAN = np.linspace(-2.0, 3.0, CHANNELS)
CHANNEL_STD = np.linspace(0.5, 4.0, CHANNELS)


def pace_decoder() -> ScoreDecoder:
    """Reads tempo and onset rate off channel 0's mean (+1 -> 1.5 standard deviations faster); the rest at typical values."""
    calibration = default_calibration()
    n_features = FEATURES_PER_CHANNEL * CHANNELS
    coef = np.zeros((n_features, len(DESCRIPTOR_NAMES)))
    for name in ("tempo_bpm", "onset_rate"):
        coef[0, DESCRIPTOR_NAMES.index(name)] = 1.5  # feature 0: channel 0's window mean
    return ScoreDecoder(np.zeros(n_features), np.ones(n_features), calibration.mean.copy(), calibration.scale.copy(),
                        coef, FRAME_RATE, CODEC["codec_id"])


def pace_latent(level: float, seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    latent = 0.3 * rng.standard_normal((CHANNELS, int(seconds * FRAME_RATE)))
    latent[0] += level
    return latent.astype(np.float32)


@pytest.fixture(scope="module")
def synth():
    return SynthRenderer(pace_decoder())


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = ConditionalVAE(VAEConfig(in_channels=CHANNELS, latent_dim=4, stage_channels=(16, 16), stage_strides=(4, 2),
                                     cond_hidden=8)).eval()
    model.set_normalization(torch.tensor(CHANNEL_MEAN, dtype=torch.float32), torch.tensor(CHANNEL_STD, dtype=torch.float32))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # FiLM starts at zero; random weights let the (untrained) sample depend on the emotion
        for module in model.modules():
            if isinstance(module, FiLM):
                module.proj.weight.copy_(0.5 * torch.randn(module.proj.weight.shape, generator=generator))
    path = tmp_path_factory.mktemp("vae") / "best.pt"
    save_checkpoint(path, model, {"codec": CODEC, "epoch": 0, "metrics": {}, "chunk_seconds": 5})
    pace_decoder().save(path.parent / SCORE_DECODER_FILE)
    return path


@pytest.fixture(scope="module")
def generator(checkpoint):
    return Generator.from_checkpoint(checkpoint, "cpu")


def request(checkpoint, **kw) -> GenerationRequest:
    return GenerationRequest(checkpoint=checkpoint, **{"seconds": 3.0, "device": "cpu", **kw}).validated()


# ---- synth: the latent decides ----------------------------------------------------------------------
def test_a_latent_read_as_fast_renders_faster_music(synth):
    seconds = 6.0
    slow_reading, slow_params = synth.read(pace_latent(-1.0, seconds), seconds)
    fast_reading, fast_params = synth.read(pace_latent(+1.0, seconds), seconds)
    tempo = DESCRIPTOR_NAMES.index("tempo_bpm")
    assert fast_reading[:, tempo].mean() > slow_reading[:, tempo].mean() + 30  # the decoder reads what it was built to
    assert fast_params.curves["tempo_bpm"].mean() > slow_params.curves["tempo_bpm"].mean() + 20  # calibration follows
    rates = {}
    for name, level in (("slow", -1.0), ("fast", +1.0)):
        rendered = synth.render(pace_latent(level, seconds), EmotionPath((0.5, 0.5)), seconds, seed=0)
        audio, details = rendered.audio, rendered.details
        assert rendered.score is not None and rendered.programs  # the engine composed it: there is a score to export
        assert audio.shape == (2, int(seconds * synth.sample_rate)) and np.all(np.isfinite(audio))  # listening: stereo
        rates[name] = describe(to_mono(audio), synth.sample_rate)[:, DESCRIPTOR_NAMES.index("onset_rate")].mean()
        assert set(details["descriptors"]) == set(DESCRIPTOR_NAMES)
    assert rates["fast"] > 1.3 * rates["slow"], rates  # audibly more notes per second


def test_synth_output_follows_the_latent_and_ignores_the_emotion_label(synth):
    latent, other = pace_latent(0.2, 3.0, seed=1), pace_latent(0.2, 3.0, seed=2)
    happy = synth.render(latent, EmotionPath((1.0, 1.0)), 3.0, seed=0).audio
    sad = synth.render(latent, EmotionPath((0.0, 0.0)), 3.0, seed=0).audio
    sad_to_happy = synth.render(latent, EmotionPath((0.0, 0.0), (1.0, 1.0)), 3.0, seed=0).audio
    np.testing.assert_array_equal(happy, sad)  # same latent, other label: the same music
    np.testing.assert_array_equal(happy, sad_to_happy)
    changed = synth.render(other, EmotionPath((1.0, 1.0)), 3.0, seed=0).audio
    assert not np.allclose(happy, changed)  # other latent, same label: other music


def test_rules_follow_the_emotion_and_ignore_the_latent():
    rules = RulesRenderer()
    one = rules.render(pace_latent(-1.0, 3.0, seed=1), EmotionPath((0.2, 0.8)), 3.0, seed=0).audio
    two = rules.render(pace_latent(+1.0, 3.0, seed=2), EmotionPath((0.2, 0.8)), 3.0, seed=0).audio
    np.testing.assert_array_equal(one, two)
    other = rules.render(pace_latent(-1.0, 3.0, seed=1), EmotionPath((0.9, 0.1)), 3.0, seed=0).audio
    assert not np.allclose(one, other)


def test_synth_without_a_score_decoder_says_to_retrain_or_use_rules(tmp_path, checkpoint):
    bare = tmp_path / "bare.pt"
    bare.write_bytes(checkpoint.read_bytes())
    generator = Generator.from_checkpoint(bare, "cpu")
    with pytest.raises(GenerationInputError) as caught:
        generator.generate_piece(GenerationRequest(bare, seconds=1.0, device="cpu"))
    assert "--renderer rules" in str(caught.value) and SCORE_DECODER_FILE in str(caught.value)
    piece = generator.generate_piece(GenerationRequest(bare, seconds=1.0, device="cpu", renderer="rules"))
    assert piece.audio.shape == (2, piece.sample_rate)


def test_generator_loads_the_score_decoder_beside_the_checkpoint(generator):
    piece = generator.generate_piece(GenerationRequest(generator.source, seconds=2.0, device="cpu", seed=3))
    assert piece.latent.shape == (CHANNELS, 2 * FRAME_RATE)
    reading, params = SynthRenderer(pace_decoder()).read(piece.latent, 2.0)  # what the file beside it reads
    tempo = DESCRIPTOR_NAMES.index("tempo_bpm")
    assert piece.info["descriptors"]["tempo_bpm"] == pytest.approx(reading[:, tempo].mean(), abs=0.01)
    assert piece.info["engine"]["tempo_bpm"] == pytest.approx(params.curves["tempo_bpm"].mean(), abs=0.01)


# ---- ablations -------------------------------------------------------------------------------------
def test_noise_ablation_has_the_checkpoints_channel_statistics_whatever_the_emotion(checkpoint, generator):
    seconds = 10.0
    latent, details = generator.latent(request(checkpoint, emotion="happy", ablation="noise", seconds=seconds, seed=4))
    assert latent.shape == (CHANNELS, generator.sampler.n_frames(seconds)) and latent.dtype == np.float32
    assert details == {}
    assert np.all(np.abs(latent.mean(axis=1) - CHANNEL_MEAN) < 0.2 * CHANNEL_STD)
    np.testing.assert_allclose(latent.std(axis=1), CHANNEL_STD, rtol=0.12)
    sad, _ = generator.latent(request(checkpoint, emotion="sad", ablation="noise", seconds=seconds, seed=4))
    # another request gets its own draw (so a measured rho is a real null), from the same distribution
    assert not np.allclose(latent, sad)
    np.testing.assert_allclose(sad.std(axis=1), CHANNEL_STD, rtol=0.12)
    again, _ = generator.latent(request(checkpoint, emotion="happy", ablation="noise", seconds=seconds, seed=4))
    np.testing.assert_array_equal(latent, again)  # reproducible
    reseeded, _ = generator.latent(request(checkpoint, emotion="happy", ablation="noise", seconds=seconds, seed=5))
    assert not np.allclose(latent, reseeded)
    real, _ = generator.latent(request(checkpoint, emotion="happy", seconds=seconds, seed=4))
    assert not np.allclose(latent, real)


@pytest.mark.parametrize("emotion", ["happy", "sad", (0.5, 0.5), (0.3, 0.9)])
def test_shuffled_ablation_samples_another_emotion_and_records_it(checkpoint, generator, emotion):
    req = request(checkpoint, emotion=emotion, ablation="shuffled", seed=2)
    latent, details = generator.latent(req)
    sampled = details["sampled_emotion"]
    assert sampled == generator.latent(req)[1]["sampled_emotion"]  # reproducible
    assert sampled != generator.latent(request(checkpoint, emotion="angry", ablation="shuffled", seed=2))[1]["sampled_emotion"]
    assert sampled != generator.latent(request(checkpoint, emotion=emotion, ablation="shuffled", seed=3))[1]["sampled_emotion"]
    assert tuple(sampled) != tuple(req.emotion) and all(0.0 <= x <= 1.0 for x in sampled)
    expected = generator.sampler.sample(EmotionPath(tuple(sampled)), req.seconds, req.seed, req.temperature)
    np.testing.assert_array_equal(latent, expected)  # the VAE's own sample at the shuffled emotion
    honest = generator.sampler.sample(EmotionPath(req.emotion), req.seconds, req.seed, req.temperature)
    assert not np.allclose(latent, honest)
    piece = generator.generate_piece(req)
    assert piece.info["sampled_emotion"] == sampled and piece.info["emotion"] == list(req.emotion)
    assert piece.info["ablation"] == "shuffled"


def test_unknown_ablation_is_refused_naming_the_choices(checkpoint):
    with pytest.raises(GenerationInputError) as caught:
        GenerationRequest(checkpoint, ablation="zeros").validated()
    message = str(caught.value)
    assert "zeros" in message and all(name in message for name in ABLATIONS)
    assert GenerationRequest(checkpoint, ablation=" Noise ").validated().ablation == "noise"


def test_stage_names_ablated_pieces_and_saves_the_latent(checkpoint, generator, tmp_path):
    from emovae.generate.stage import GenerationStageConfig, run_generation
    from pipeline.generate import main

    out = tmp_path / "generated"
    piece = GenerationRequest(checkpoint=checkpoint, seconds=1.5, device="cpu", ablation="noise")
    result = run_generation(GenerationStageConfig(piece=piece, out_dir=out, emotions=("happy",), save_latent=True,
                                                  show_progress=False))
    assert [p.wav.name for p in result.pieces] == ["happy_synth_noise_seed0.wav"]
    stored = np.load(out / "happy_synth_noise_seed0.npy")
    expected, _ = generator.latent(piece.validated())
    np.testing.assert_array_equal(stored, expected)
    # the same settings without the ablation are another piece, not a resumed one
    assert main(["--checkpoint", str(checkpoint), "--emotion", "happy", "--seconds", "1.5", "--device", "cpu",
                 "--out", str(out), "--save-latent"]) == 0
    plain = np.load(out / "happy_synth_seed0.npy")
    np.testing.assert_array_equal(plain, generator.latent(GenerationRequest(checkpoint, seconds=1.5, device="cpu").validated())[0])
    assert not np.allclose(plain, stored)
    # a resumed piece whose latent file went missing is generated again
    (out / "happy_synth_noise_seed0.npy").unlink()
    again = run_generation(GenerationStageConfig(piece=piece, out_dir=out, emotions=("happy",), save_latent=True,
                                                 show_progress=False))
    assert not again.pieces[0].resumed and (out / "happy_synth_noise_seed0.npy").is_file()


def test_shuffled_emotions_do_not_depend_on_the_request_in_distribution():
    from scipy.stats import spearmanr

    from emovae.eval.ablations import shuffled_emotion

    requests = [(v, a) for v in np.linspace(0, 1, 11) for a in np.linspace(0, 1, 11)]
    drawn = np.array([shuffled_emotion(r, seed) for r in requests for seed in range(3)])
    asked = np.repeat(np.array(requests), 3, axis=0)
    for axis in (0, 1):  # 363 draws: a built-in (anti-)correlation of 0.3 would stand far outside +-0.15
        assert abs(spearmanr(asked[:, axis], drawn[:, axis])[0]) < 0.15


def test_the_score_decoder_reads_the_same_on_its_one_thread_worker():
    """The synth renderer reads descriptors on a one-thread torch worker (fast on shared cores): the
    reading must be the caller's thread's, bit for bit, so the music cannot depend on where it ran."""
    on_worker, in_caller = SynthRenderer(pace_decoder()), SynthRenderer(pace_decoder(), cpu_threads=None)
    assert on_worker._worker is not None and in_caller._worker is None
    for level, seed in ((-1.0, 0), (0.5, 1), (2.0, 2)):
        latent = pace_latent(level, 6.0, seed)
        np.testing.assert_array_equal(on_worker.read(latent, 6.0)[0], in_caller.read(latent, 6.0)[0])
