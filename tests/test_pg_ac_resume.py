"""pg and ac resume exactly: a run stopped at a checkpoint and continued ends with the parameters
and metrics of the same run left alone (sync envs are pickled with the checkpoint)."""

import pytest
import torch
from conftest import summary

from rlrun.algos.ac import ACConfig
from rlrun.algos.pg import PGConfig
from rlrun.runner import train
from rlrun.schema import DeviceConfig, EnvConfig, EvalConfig, RunConfig


def config(algo, total_steps: int) -> RunConfig:
    return RunConfig(
        algo=algo, env=EnvConfig(id="CartPole-v1", num_envs=4), device=DeviceConfig(type="cpu", threads=1),
        total_steps=total_steps, eval=EvalConfig(every=1000, episodes=2),
    )  # fmt: skip


@pytest.fixture(autouse=True)
def keep_threads():
    """device.threads=1 (small tensors: a thread pool only adds overhead) is set in this process."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(
    "algo", [PGConfig(N=4, S=2), ACConfig(N=8, n_steps=2, S=2, shared=True)], ids=["pg", "ac"]
)
def test_a_resumed_run_ends_as_if_never_stopped(algo, tmp_path):
    train(config(algo, 2000), tmp_path / "alone", progress=False)
    train(config(algo, 1000), tmp_path / "stopped", progress=False)
    train(config(algo, 2000), tmp_path / "stopped", progress=False)  # its checkpoint: resumed
    alone, resumed = summary(tmp_path / "alone"), summary(tmp_path / "stopped")
    # (not the best evaluation: the stopped run evaluated once more, where it stopped)
    for key in ("env_steps", "iterations", "eval_return_mean"):
        assert resumed[key] == alone[key], key
    params = torch.load(tmp_path / "stopped" / "checkpoint.pt", weights_only=False)["algo"]["agent"]
    params_alone = torch.load(tmp_path / "alone" / "checkpoint.pt", weights_only=False)["algo"]["agent"]
    for name, tensor in params_alone.items():
        assert torch.equal(params[name], tensor), name
