"""Data-parallel training: the sampler's shares, and two gloo processes under torchrun that learn and resume."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from emovae import distributed
from emovae.distributed import DistEnv, DistributedError, process_group
from emovae.model.checkpoint import read_checkpoint
from emovae.train.parallel import DataParallel
from emovae.train.synthetic import write_synthetic_latents
from pipeline.train import main as cli_main
from tests.test_train_loop import _config
from tests.torchrun_helpers import stop, torchrun


def _rank(rank: int, world: int = 2) -> DataParallel:
    return DataParallel(DistEnv(rank, world, rank, world))


def test_ranks_share_each_epoch_and_take_equal_steps():
    train_index = np.arange(100, 151)  # 51 chunks: not a multiple of the world size
    orders = [_rank(r).epoch_order(train_index, seed=5, epoch=3) for r in range(2)]
    assert set(np.concatenate(orders)) == set(train_index) and len(orders[0]) == len(orders[1]) == 26
    assert np.array_equal(orders[0], _rank(0).epoch_order(train_index, seed=5, epoch=3))  # replayable on resume
    assert not np.array_equal(orders[0], _rank(0).epoch_order(train_index, seed=5, epoch=4))
    # global batch 16 -> 8 per rank; 26 rows per rank -> 4 steps, the same on both ranks
    assert _rank(1).local_batch(16) == 8 and _rank(1).batches_per_epoch(51, 16) == 4
    single = DataParallel()
    assert np.array_equal(single.epoch_order(train_index, 5, 3), np.random.default_rng([5, 3]).permutation(train_index))
    assert single.batches_per_epoch(51, 16) == 4 and single.noise_seed(5) == 5 and _rank(1).noise_seed(5) != 5


def test_launcher_environment_is_read_and_checked():
    assert DistEnv.from_environ({}) == DistEnv()  # no torchrun: a world of one
    env = DistEnv.from_environ({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert env.active and not env.is_main and (env.rank, env.local_world_size) == (3, 2)
    with pytest.raises(DistributedError, match="RANK='x' is not an integer"):
        DistEnv.from_environ({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(DistributedError, match="need 0 <= RANK < WORLD_SIZE"):
        DistEnv.from_environ({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"})


def _torchrun_train(args: list[str]) -> str:
    proc = torchrun(["pipeline.train", *args])
    try:
        output, _ = proc.communicate(timeout=300)
    finally:
        stop(proc)
    assert proc.returncode == 0, output
    return output


def test_two_processes_train_resume_and_write_once(tmp_path, capsys):
    latents = write_synthetic_latents(tmp_path / "lat", n_songs=16, chunks_per_song=4, channels=32, seed=0)
    config = _config(latents, tmp_path / "unused", epochs=2, lr=1e-2).to_dict()
    (tmp_path / "train.json").write_text(json.dumps(config))
    run = tmp_path / "ddp"
    _torchrun_train(["--config", str(tmp_path / "train.json"), "--out", str(run)])
    payload = read_checkpoint(run / "last.pt")
    assert payload["rank_rng"]["world_size"] == 2 and len(payload["rank_rng"]["ranks"]) == 2
    assert not any(key.startswith("module.") for key in payload["model_state"])  # the model, not its DDP wrapper

    output = _torchrun_train(["--out", str(run), "--resume", "--epochs", "5"])
    history = pd.read_csv(run / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3, 4, 5]  # one writer: no duplicated rows
    assert history["train_mse"].iloc[-1] < 0.8 * history["train_mse"].iloc[0]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["val_mse"] < metrics["baseline_mse"] and "val MSE" in output
    # 16 songs -> 8 training songs x 4 chunks = 32 chunks; global batch 8 -> 4 a rank, 4 steps an epoch
    assert read_checkpoint(run / "last.pt")["train_state"]["global_step"] == 5 * 4

    with pytest.raises(DistributedError, match=r"saved by a run of 2 process\(es\)"):
        DataParallel().restore_rng(payload["rank_rng"], None, run / "last.pt")
    before = (run / "last.pt").read_bytes()
    assert cli_main(["--out", str(run), "--resume", "--epochs", "6"]) == 2  # one process cannot continue it exactly
    assert "resume it with the same number (torchrun --nproc_per_node" in capsys.readouterr().err
    assert (run / "last.pt").read_bytes() == before


def test_ranks_leave_the_process_group_together_after_a_normal_run_and_at_once_after_an_error(monkeypatch):
    """A rank that left while rank 0 still wrote its files aborted at exit (SIGABRT seen in CI): wait first."""
    calls = []
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda **kw: calls.append("init"))
    monkeypatch.setattr(distributed.dist, "destroy_process_group", lambda: calls.append("destroy"))
    monkeypatch.setattr(distributed, "barrier", lambda what, timeout_s: calls.append(f"barrier {timeout_s:g}"))
    env = DistEnv(1, 2, 1, 2)
    with process_group(env, "gloo", timeout_s=7):
        calls.append("work")
    assert calls == ["init", "work", "barrier 7", "destroy"]
    calls.clear()
    with pytest.raises(ValueError):
        with process_group(env, "gloo", timeout_s=7):
            raise ValueError("a rank failed")
    assert calls == ["init", "destroy"]
