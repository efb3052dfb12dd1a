"""Batched PyTorch versions of gymnasium's classic-control envs, and a sampler of tabular models.

Each env steps `num_envs` copies at once as tensors on one device (CPU or CUDA), with no host
synchronisation in `step` or `reset`: nothing is read back to Python, so a CUDA caller can queue
thousands of steps. They behave like `gymnasium.vector.SyncVectorEnv(..., autoreset_mode=SAME_STEP)`
wrapped in `RecordEpisodeStatistics`, with tensors instead of numpy arrays:

    obs, info = envs.reset(seed=0)
    obs, reward, terminated, truncated, info = envs.step(actions)

- An episode that ends in a step is reset in that same step: `obs` holds the new episode's first
  observation, `info["final_obs"]` the true next observation of every env (the last observation of
  the ended episodes; equal to `obs` elsewhere), `info["_final_obs"]` the mask of ended envs.
- `info["episode"] = {"r", "l"}` (return and length of the ended episodes, 0 elsewhere) and
  `info["_episode"]` are always present, so a caller never needs a sync to learn whether they are.
- `truncated` is gymnasium's TimeLimit rule, elapsed steps >= max_episode_steps. As in gymnasium
  1.4, a step that both terminates and reaches the limit reports terminated=True and truncated=True:
  bootstrap only where `truncated & ~terminated`.
- Physical constants are per-env tensors in `envs.params` ([E] each); `randomize={name: (low,
  high)}` draws each env's own value at every reset, and `**params` fix them (e.g. length=0.8).
- One torch.Generator on the env's device draws start states and parameters; reset(seed=s)
  seeds it. On the CPU an autoreset draws only for the envs that ended (`subset_reset`); on other
  devices every env draws every step and torch.where keeps the ended ones' (no sync). Either way
  the same seed and actions give the same trajectories and state_dict() resumes exactly, but
  CPU and CUDA give different streams (their generators differ anyway).

The equations are gymnasium 1.4's (gymnasium/envs/classic_control/*.py), in the same order of
operations. Where gymnasium computes or stores in float32, a float64 env rounds to float32 at the
same points (`_round32`), so that float64 envs agree with gymnasium to ~1e-15 per step:
- Acrobot draws its start state in float64 and stores it as float32; its steps are float64.
- MountainCarContinuous stores its state as float32 after every step, and numpy computes
  `force * power` (when the action is not clipped) and, from the second step of an episode on,
  `3 * position`, the velocity update and the comparisons with constants in float32 (NEP 50: a
  Python float meeting a float32 scalar is cast to float32).
- Pendulum takes the float32 action: `0.001 * u**2` and `3 / (m l^2) * u` are float32 products.
- CartPole and MountainCar are float64 throughout.
Box actions are cast to float32 (the action space's dtype) before use, as gymnasium sees them.
Observations and rewards are returned as float32 whatever the internal dtype; episode returns
are summed in the internal dtype.
"""

from __future__ import annotations

import torch

from rlrun.envs.tabular import TabularModel
from rlrun.envs.torch_envs.acrobot import AcrobotEnv
from rlrun.envs.torch_envs.base import NO_TIME_LIMIT, TorchVectorEnv
from rlrun.envs.torch_envs.cartpole import CartPoleEnv
from rlrun.envs.torch_envs.mountain_car import ContinuousMountainCarEnv, MountainCarEnv
from rlrun.envs.torch_envs.pendulum import PendulumEnv
from rlrun.envs.torch_envs.tabular import TabularSampleEnv
from rlrun.errors import ConfigError

__all__ = [
    "NO_TIME_LIMIT",
    "TORCH_ENVS",
    "AcrobotEnv",
    "CartPoleEnv",
    "ContinuousMountainCarEnv",
    "MountainCarEnv",
    "PendulumEnv",
    "TabularSampleEnv",
    "TorchVectorEnv",
    "make_tabular_sample_env",
    "make_torch_env",
]

TORCH_ENVS: dict[str, type[TorchVectorEnv]] = {
    cls.env_id: cls
    for cls in (CartPoleEnv, AcrobotEnv, MountainCarEnv, ContinuousMountainCarEnv, PendulumEnv)
}


def make_torch_env(
    env_id: str,
    num_envs: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    max_episode_steps: int | None = None,
    randomize: dict[str, tuple[float, float]] | None = None,
    **params: float,
) -> TorchVectorEnv:
    """The batched torch version of gymnasium's `env_id`; ConfigError for an id without one, an
    unknown parameter or randomised name, or a bad range."""
    if env_id not in TORCH_ENVS:
        raise ConfigError(
            "env.backend",
            f"env.backend=torch has no batched version of {env_id!r}; it has {', '.join(TORCH_ENVS)}; "
            "use env.backend=gymnasium for other envs",
        )
    return TORCH_ENVS[env_id](num_envs, device, dtype, max_episode_steps, randomize, **params)


def make_tabular_sample_env(
    model: TabularModel,
    num_envs: int,
    device: torch.device | str = "cpu",
    max_episode_steps: int | None = None,
) -> TabularSampleEnv:
    """A batched env that samples episodes of a tabular model (its time limit: model.horizon)."""
    return TabularSampleEnv(model, num_envs, device, max_episode_steps)
