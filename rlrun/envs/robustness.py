"""The robotics case study's perturbations (OpenAI et al. 2019), around a batched torch env.

What the policy sees and what the env applies are both made imperfect, per env, while the env's
true state, rewards, termination and episode statistics stay untouched:

- observation noise: obs + offset + eps, with offset ~ N(0, sigma_c^2) drawn per env at each reset
  (a miscalibrated sensor: constant within the episode) and eps ~ N(0, sigma_u^2) drawn at every
  step (jitter); applied to obs and to info["final_obs"] alike.
- action latency: the env applies the action chosen k steps earlier (the first action while the
  episode is younger than k steps: the one chosen min(k, t) steps ago at its step t), from a
  per-env queue; k is drawn per episode.
- action noise: Gaussian noise on continuous actions (a motor's imprecision).
- random-network perturbation: at each reset every env gets a small random network f (one tanh
  layer, weights [E, ...]); strength * f(obs) is added to the observation or to the action: an
  unmodelled, state-dependent disturbance that differs from episode to episode.

Every scale is a number or a range [low, high] drawn per env at each reset, and each can instead be
an ADR parameter (rlrun.envs.adr), as can the env's physical parameters. Everything is tensors on
the env's device; no step reads anything back to the host (on the CPU, only the envs that ended get
new values, as in the torch envs, taken from draws made num_envs episodes ahead at a time).

On the CPU each small tensor operation costs a few microseconds whatever its size, so a step here
does as few as it can: the queue is a ring (one slot written per step, not the queue copied), the
ended envs' new values are written in place (the env's parameters are views of them), and ADR's
handful of buffer numbers are judged in Python (rlrun.envs.adr).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch

from rlrun.envs.adr import ADR
from rlrun.envs.torch_envs.base import TorchVectorEnv
from rlrun.errors import ConfigError
from rlrun.schema import MAX_LATENCY, dotted, knob_range, robustness_knobs, robustness_on

Tensor = torch.Tensor
KNOBS = ("obs_noise.correlated", "obs_noise.uncorrelated", "latency", "action_noise", "perturb.strength")
SEED_OFFSET = 0x5EED  # the wrapper's generator is seeded with the env's seed plus this


class RobustEnv:
    """`envs` with the knobs on: `knobs` name -> (low, high) ranges (a point is a fixed value);
    `adr` over some of them and of the env's physical parameters; `max_latency` the queue's length."""

    is_tensor_env = True

    def __init__(
        self,
        envs: TorchVectorEnv,
        knobs: dict[str, tuple[float, float]],
        adr: ADR | None = None,
        max_latency: int = 0,
        perturb_target: str = "obs",
        perturb_hidden: int = 16,
    ):
        self.envs, self.knobs, self.adr = envs, dict(knobs), adr
        self.num_envs, self.device = envs.num_envs, envs.device
        self.max_latency, self.perturb_target, self.hidden = max_latency, perturb_target, perturb_hidden
        adr_names = adr.names if adr is not None else []
        on = {name for name, (low, high) in self.knobs.items() if high > 0 or name in adr_names}
        self.offset_on = "obs_noise.correlated" in on  # obs noise's two parts
        self.jitter_on = "obs_noise.uncorrelated" in on
        self.latency_on = "latency" in on and max_latency > 0
        self.action_noise_on = "action_noise" in on
        self.perturb_on = "perturb.strength" in on
        self.physical = [name for name in adr_names if name not in KNOBS]  # written into envs.params
        self._adr_row = {name: i for i, name in enumerate(adr_names)}
        # knobs drawn anew for each episode (a range); the others keep their one value
        self.varying = [
            name for name, (low, high) in self.knobs.items() if high > low and name not in adr_names
        ]
        self.subset = self.device.type == "cpu"  # as the torch envs: draw only for ended envs there
        self.generator = torch.Generator(device=self.device)
        self.generator.seed()
        E, obs_dim = self.num_envs, envs.single_observation_space.shape[0]
        self._continuous = isinstance(envs.single_action_space, gym.spaces.Box)
        act_shape = envs.single_action_space.shape
        act_dtype = torch.float32 if self._continuous else torch.int64
        # the action queue, a ring of L = max_latency + 1 slots stored twice over ([2L, E, ...]): the
        # newest action sits at slot head and at head + L, so the one chosen d steps ago is at
        # head + d (d < L) with no wrap-around, and a step writes one slot pair instead of copying all
        self._queue = torch.zeros(2 * (max_latency + 1), E, *act_shape, dtype=act_dtype, device=self.device)
        self._head = 0
        self._lane = torch.arange(E, device=self.device)  # env e's action of a slot is at slot * E + e
        self._obs = torch.zeros(E, obs_dim, device=self.device)  # the last true observation
        self._out_dim = act_shape[0] if perturb_target == "action" and self._continuous else obs_dim
        self._ahead: dict[str, Tensor] = {}  # draws for the next episodes (the CPU's way), and
        self._ahead_at = 0  # how many of them are used
        self.episode: dict[str, Tensor] = self._realise(self._draw(E))  # the current episodes' values
        self._publish()

    # ---------------------------------------------------------------- forwarding
    def __getattr__(self, name: str) -> Any:  # spaces, params, close, ...
        if name == "envs":
            raise AttributeError(name)
        return getattr(self.envs, name)

    @property
    def unwrapped(self) -> Any:
        return self.envs.unwrapped

    # ---------------------------------------------------------------- new episodes
    def _draw(self, n: int) -> dict[str, Tensor]:
        """The random draws of n episodes: knobs drawn from their ranges, ADR's units and probes, the
        correlated offset's unit normals, the random network. None depends on ADR's current ranges
        (_realise applies them), so they can be drawn before the episodes start."""
        g, device = self.generator, self.device
        draws: dict[str, Tensor] = {}
        for name in self.varying:
            low, high = self.knobs[name]
            if name == "latency":  # whole steps, each equally likely (int64: k itself, see _publish)
                draws[name] = torch.randint(int(low), int(high) + 1, (n,), device=device, generator=g)
            else:
                draws[name] = torch.empty(n, device=device).uniform_(low, high, generator=g)
        if self.adr is not None:  # one row per parameter: [P, n]
            draws["adr.units"], draws["adr.probe"] = self.adr.draw_units(n, g)
        if self.offset_on:
            draws["offset.unit"] = torch.randn(n, self._obs.shape[1], device=device, generator=g)
        if self.perturb_on:
            in_dim, hidden, out = self._obs.shape[1], self.hidden, self._out_dim
            draws["net.w1"] = torch.randn(n, in_dim, hidden, device=device, generator=g) / in_dim**0.5
            draws["net.b1"] = torch.randn(n, hidden, device=device, generator=g) * 0.5
            draws["net.w2"] = torch.randn(n, hidden, out, device=device, generator=g) / hidden**0.5
        return draws

    def _realise(self, draws: dict[str, Tensor]) -> dict[str, Tensor]:
        """The per-episode values of draws: ADR's values from its units and current ranges (each
        row contiguous: a physical row is the env's parameter), the offset from its scale."""
        values = {
            name: draws[name] for name in (*self.varying, "net.w1", "net.b1", "net.w2") if name in draws
        }
        if self.adr is not None:
            values["adr.values"] = self.adr.values(draws["adr.units"]).to(self.envs.dtype)
            values["adr.probe"] = draws["adr.probe"]
            if "latency" in self._adr_row:
                row = values["adr.values"][self._adr_row["latency"]]
                row.copy_(row.round().clamp(0, self.max_latency))
        if self.offset_on:
            values["offset"] = draws["offset.unit"] * self._scale("obs_noise.correlated", values)
        return values

    def _ahead_take(self, n: int) -> dict[str, Tensor]:
        """The draws of the next n episodes, from the ones drawn ahead (num_envs at a time: a batch of
        draws costs about what one step's few would, so this saves most of their cost)."""
        size = self.num_envs
        if not self._ahead or self._ahead_at + n > size:
            self._ahead, self._ahead_at = self._draw(size), 0
        at, self._ahead_at = self._ahead_at, self._ahead_at + n
        return {k: v[:, at : at + n] if k == "adr.units" else v[at : at + n] for k, v in self._ahead.items()}

    def _renew(self, done: Tensor) -> None:
        """New per-episode values for the envs whose episode ended (done [E]; no sync)."""
        fresh = self._realise(self._draw(self.num_envs))
        for name, old in self.episode.items():
            mask = done if name == "adr.values" else done.view(-1, *[1] * (old.dim() - 1))
            self.episode[name] = torch.where(mask, fresh[name], old)
        self._publish()

    def _renew_some(self, ended: Tensor) -> None:
        """New per-episode values for the envs `ended` (indices), in place (the CPU's way: the env's
        parameters and ADR's probes are views of them and follow)."""
        fresh = self._realise(self._ahead_take(ended.shape[0]))
        for name, value in fresh.items():
            self.episode[name].index_copy_(1 if name == "adr.values" else 0, ended, value)
        if "latency" in self._adr_row:  # (a drawn knob's k is a view of its episode values)
            self._k.index_copy_(0, ended, fresh["adr.values"][self._adr_row["latency"]].long())

    def _publish(self) -> None:
        """The episode's physical ADR values into the env's parameters, its probes into ADR."""
        for name in self.physical:
            self.envs.params[name] = self.episode["adr.values"][self._adr_row[name]]
        if self.adr is not None:
            self.adr.probe = self.episode["adr.probe"]
        k = self._scale("latency")
        self._k = int(k) if isinstance(k, float) else k.view(-1).long()  # int64 already: a view

    def per_env(self, name: str) -> Tensor:
        """A knob's or ADR parameter's value in each env's current episode [E]."""
        value = self._scale(name)
        if isinstance(value, Tensor):
            return value.view(-1).float()
        return torch.full((self.num_envs,), value, device=self.device)

    def _scale(self, name: str, episode: dict[str, Tensor] | None = None) -> Tensor | float:
        """A knob's value per env as [E, 1] (to broadcast over a row), or its fixed value."""
        episode = self.episode if episode is None else episode
        if name in self._adr_row:
            return episode["adr.values"][self._adr_row[name]][:, None].float()
        return episode[name][:, None] if name in episode else self.knobs[name][0]

    def _perturbation(self, obs: Tensor) -> Tensor:
        """strength * f(obs), f each env's own random network: [E, out]."""
        ep = self.episode
        hidden = torch.tanh(torch.bmm(obs[:, None, :], ep["net.w1"]).squeeze(1) + ep["net.b1"])
        return torch.bmm(hidden[:, None, :], ep["net.w2"]).squeeze(1) * self._scale("perturb.strength")

    def _seen(self, obs: Tensor, noise: Tensor | None) -> Tensor:
        """What the policy sees of true observations obs [E, D] in the current episodes."""
        if self.perturb_on and self.perturb_target == "obs":
            obs = obs + self._perturbation(obs)
        return obs if noise is None else obs + noise

    # ---------------------------------------------------------------- the gymnasium interface
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Tensor, dict]:
        obs, info = self.envs.reset(seed=seed, options=options)
        if seed is not None:
            self.generator.manual_seed(seed + SEED_OFFSET)
        self._ahead, self._ahead_at = {}, 0
        self.episode = self._realise(self._draw(self.num_envs))
        self._publish()
        self._obs = obs
        jitter = self._jitter()
        return self._seen(obs, self._noise(jitter)), info

    def _jitter(self) -> Tensor | None:
        """This step's uncorrelated noise (shared by a step's final and first observations)."""
        if not self.jitter_on:
            return None
        scale = self._scale("obs_noise.uncorrelated")
        if isinstance(scale, float):  # drawn at its scale: one operation
            return torch.empty(self._obs.shape, device=self.device).normal_(
                0.0, scale, generator=self.generator
            )
        return torch.randn(self._obs.shape, device=self.device, generator=self.generator).mul_(scale)

    def _noise(self, jitter: Tensor | None) -> Tensor | None:
        """offset + eps of the current episodes (the same sum for an episode's every observation of
        this step, so an env whose episode goes on sees final_obs == obs exactly)."""
        if not self.offset_on:
            return jitter
        return self.episode["offset"] if jitter is None else self.episode["offset"] + jitter

    def _delayed(self, actions: Tensor) -> Tensor:
        """The actions chosen min(k, t) steps ago, t each episode's age: an episode's first action also
        stands in for the k before it (see __init__ for the ring)."""
        L, E = self._queue.shape[0] // 2, self.num_envs
        head = self._head = (self._head - 1) % L
        self._queue[head].copy_(actions)  # both copies of the newest slot
        self._queue[head + L].copy_(actions)
        back = self.envs.episode_steps.clamp(max=self._k)  # the env's step count in the episode: t
        flat = self._queue.view(-1, *actions.shape[1:])[head * E :]  # the slots from the newest on
        return flat.index_select(0, torch.add(self._lane, back, alpha=E))

    def applied(self, actions: Tensor) -> Tensor:
        """The actions the env applies this step: delayed, noisy, perturbed."""
        if actions.shape != self._queue.shape[1:]:  # e.g. [E, 1] for Discrete
            actions = actions.reshape(self._queue.shape[1:])
        if self.latency_on:
            actions = self._delayed(actions)
        if self.action_noise_on and self._continuous:
            noise = torch.randn(actions.shape, device=self.device, generator=self.generator)
            actions = actions + noise * self._scale("action_noise")
        if self.perturb_on and self.perturb_target == "action":
            actions = actions + self._perturbation(self._obs)
        return actions

    def step(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.envs.step(self.applied(actions))
        done = info["_final_obs"]  # terminated | truncated, as the env computed it
        jitter = self._jitter()
        final_seen = self._seen(info["final_obs"], self._noise(jitter))  # the ended episodes' own noise
        if self.subset:  # the CPU: finding the ended envs costs no sync; work on those alone
            ended = done.nonzero(as_tuple=True)[0]
            if ended.shape[0]:
                if self.adr is not None:
                    self.adr.record_some(ended, info["episode"]["r"])
                self._renew_some(ended)
        else:
            if self.adr is not None:
                self.adr.record(done, info["episode"]["r"])
            self._renew(done)
        self._obs = obs
        seen = self._seen(obs, self._noise(jitter))
        if self.perturb_on and self.perturb_target == "obs":  # same values; keep final_obs == obs exactly
            seen = torch.where(done[:, None], seen, final_seen)
        return seen, reward, terminated, truncated, {**info, "final_obs": final_seen}

    def close(self) -> None:
        self.envs.close()

    # ---------------------------------------------------------------- logs, state
    def robustness_metrics(self) -> dict[str, float]:
        """adr/entropy and adr/<param>_low|high, for the runner to log each iteration."""
        return {} if self.adr is None else self.adr.metrics()

    def robustness_summary(self) -> dict[str, Any]:
        """summary.json's fields: adr_entropy and the final ranges."""
        if self.adr is None:
            return {}
        metrics = self.adr.metrics()
        return {"adr_entropy": metrics["adr/entropy"], **{k.replace("/", "_"): v for k, v in metrics.items()}}

    def state_dict(self) -> dict[str, Any]:
        L = self._queue.shape[0] // 2
        return {
            "envs": self.envs.state_dict(),
            "episode": {k: v.clone() for k, v in self.episode.items()},
            "queue": self._queue[self._head : self._head + L].clone(),  # newest first
            "obs": self._obs.clone(),
            "generator": self.generator.get_state(),
            "adr": None if self.adr is None else self.adr.state_dict(),
            "ahead": {k: v.clone() for k, v in self._ahead.items()},
            "ahead_at": self._ahead_at,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.envs.load_state_dict(state["envs"])
        if set(state["episode"]) != set(self.episode):
            raise ValueError(
                f"saved perturbations {sorted(state['episode'])} differ from {sorted(self.episode)}"
            )
        self.episode = {
            k: v.to(self.device, self.episode[k].dtype).clone() for k, v in state["episode"].items()
        }
        queue = state["queue"].to(self.device)
        self._queue = torch.cat((queue, queue))  # the ring from slot 0
        self._head = 0
        self._obs = state["obs"].to(self.device).clone()
        self.generator.set_state(state["generator"].cpu())
        if self.adr is not None:
            self.adr.load_state_dict(state["adr"])
        self._ahead = {k: v.to(self.device).clone() for k, v in state.get("ahead", {}).items()}
        self._ahead_at = int(state.get("ahead_at", 0))
        self._publish()


def wrap_robustness(envs: TorchVectorEnv, cfg: Any, with_adr: bool = True) -> TorchVectorEnv | RobustEnv:
    """`envs` with the case study's knobs of the env config `cfg` (rlrun.schema.EnvConfig), or `envs`
    itself when they are all off. with_adr=False keeps ADR's parameters at their nominal values (as
    an evaluation does)."""
    if not robustness_on(cfg):
        return envs
    knobs = {name: knob_range(value) for name, value in robustness_knobs(cfg).items()}
    discrete = not isinstance(envs.single_action_space, gym.spaces.Box)
    if discrete and cfg.perturb.target == "action" and (knobs["perturb.strength"][1] > 0 or cfg.adr.params):
        raise ConfigError(
            "env.perturb.target", f"action needs continuous actions, {cfg.id}'s are discrete; use obs"
        )
    if discrete and (knobs["action_noise"][1] > 0 or "action_noise" in cfg.adr.params):
        raise ConfigError("env.action_noise", f"needs continuous actions, {cfg.id}'s are discrete")
    adr = make_adr(envs, cfg) if cfg.adr.params else None
    max_latency = int(knobs["latency"][1])
    if adr is not None and "latency" in adr.names:
        max_latency = int(adr.limits[adr.names.index("latency")][1])
    if not with_adr:
        adr = None
    return RobustEnv(envs, knobs, adr, max_latency, cfg.perturb.target, cfg.perturb.hidden)


def make_adr(envs: TorchVectorEnv, cfg: Any) -> ADR:
    """ADR over cfg.adr.params: nominal values from the env (physical) or the knobs; limits and steps
    from the config (ConfigError naming the key for a name or limit that does not fit)."""
    adr_cfg, knobs = cfg.adr, robustness_knobs(cfg)
    given_limits, given_deltas = dotted(adr_cfg.limits), dotted(adr_cfg.deltas)
    nominal, limits, deltas = [], [], []
    for name in adr_cfg.params:
        if name in knobs:
            value = knob_range(knobs[name])[0]
        elif name in envs.default_params:
            value = float(cfg.kwargs.get(name, envs.default_params[name]))  # env.kwargs' or default
        else:
            allowed = ", ".join([*envs.default_params, *KNOBS])
            raise ConfigError("env.adr.params", f"{cfg.id} has no parameter {name!r}; allowed: {allowed}")
        key = f"env.adr.limits.{name}"
        if name in given_limits:
            low, high = (float(b) for b in given_limits[name])
        elif value != 0 and name != "latency":
            low, high = sorted((value / 10, value * 10))  # a decade either side
        else:
            raise ConfigError(
                key, f"is needed: {name}'s nominal value is {value:g}; give '+{key}=[low,high]'"
            )
        if not low <= value <= high:
            raise ConfigError(key, f"[{low:g}, {high:g}] must hold {name}'s nominal value {value:g}")
        if name in knobs and (low < 0 or (name == "latency" and (high != int(high) or high > MAX_LATENCY))):
            allowed = f"whole steps in [0, {MAX_LATENCY}]" if name == "latency" else "[0, inf)"
            raise ConfigError(key, f"must lie in {allowed}, got [{low:g}, {high:g}]")
        step = given_deltas.get(name, adr_cfg.delta * abs(value) if value else adr_cfg.delta)
        nominal.append(value)
        limits.append((low, high))
        deltas.append(float(step))
    return ADR(
        list(adr_cfg.params), nominal, limits, deltas, adr_cfg.buffer, adr_cfg.t_low, adr_cfg.t_high,
        adr_cfg.p_boundary, envs.num_envs, envs.device,
    )  # fmt: skip
