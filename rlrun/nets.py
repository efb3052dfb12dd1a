"""Networks: MLP bodies, the Nature-DQN CNN for image observations, observation normalisation,
categorical and Gaussian policy heads, V heads."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from rlrun.errors import ConfigError
from rlrun.optim import FlatAdam, FlatParameters

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}
ACTIVATION_FUNCTIONS = {nn.Tanh: torch.tanh, nn.ReLU: torch.relu, nn.ELU: nn.functional.elu}
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def mlp(sizes: list[int], activation: str, out_gain: float) -> nn.Sequential:
    """Linear layers with `activation` between them; orthogonal init (gain sqrt(2), last out_gain)."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        last = i == len(sizes) - 2
        linear = nn.Linear(fan_in, fan_out)
        nn.init.orthogonal_(linear.weight, out_gain if last else math.sqrt(2))
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def run_mlp(net: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """net(x), without nn.Module's per-call overhead: measured here, about 15 us per layer, more
    than the arithmetic of a small layer on a few environments' observations."""
    for layer in net:
        if isinstance(layer, nn.Linear):
            x = nn.functional.linear(x, layer.weight, layer.bias)
        else:
            x = ACTIVATION_FUNCTIONS[type(layer)](x)
    return x


MIN_IMAGE_SIDE = 36  # the smallest side the Nature CNN's three convolutions take
ENCODERS = ("auto", "mlp", "cnn")


def image_channels_first(shape: tuple[int, ...]) -> tuple[int, int, int] | None:
    """(C, H, W) of an image observation's shape: [H, W], [C, H, W] (stacked frames), [H, W, C]
    (RGB, C in 1, 3, 4) or [K, H, W, C] (stacked RGB frames, K*C channels); None otherwise."""
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    if len(shape) == 3:
        if shape[-1] in (1, 3, 4) and shape[0] > 4:
            return shape[2], shape[0], shape[1]
        return shape
    if len(shape) == 4:
        return shape[0] * shape[3], shape[1], shape[2]
    return None


def is_image(space: gym.Space) -> bool:
    """A uint8 Box shaped like a (stack of) frame(s) large enough for the Nature CNN."""
    if not isinstance(space, gym.spaces.Box) or space.dtype != np.uint8:
        return False
    chw = image_channels_first(space.shape)
    return chw is not None and min(chw[1:]) >= MIN_IMAGE_SIDE


def choose_encoder(kind: str, space: gym.Space) -> str:
    """`algo.encoder` resolved for an observation space: auto -> cnn for images, else mlp."""
    if kind == "auto":
        return "cnn" if is_image(space) else "mlp"
    if kind == "cnn" and not is_image(space):
        raise ConfigError(
            "algo.encoder",
            f"cnn needs uint8 image observations ([H, W], [C, H, W] or [H, W, C], sides >= "
            f"{MIN_IMAGE_SIDE}); this env's are {space}: use encoder=mlp or auto",
        )
    return kind


class NatureCNN(nn.Module):
    """The convolutional trunk of Mnih et al. 2015: 32 8x8/4, 64 4x4/2, 64 3x3/1, then 512 units,
    ReLU throughout. Frames come in as uint8 and are scaled by 1/255 here, on the device, so
    every buffer before (rollouts, replay, datasets) holds them as bytes."""

    dim = 512

    def __init__(self, space: gym.Space):
        super().__init__()
        self.shape = tuple(space.shape)
        c, h, w = image_channels_first(self.shape)
        self.convs = nn.Sequential(
            nn.Conv2d(c, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(),
        )  # fmt: skip
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, c, h, w)).shape[1]
        self.fc = nn.Linear(flat, self.dim)
        for layer in [*self.convs, self.fc]:
            if isinstance(layer, nn.Conv2d | nn.Linear):
                nn.init.orthogonal_(layer.weight, math.sqrt(2))
                nn.init.zeros_(layer.bias)

    def channels_first(self, obs: torch.Tensor) -> torch.Tensor:
        if len(self.shape) == 2:
            return obs.unsqueeze(1)
        if len(self.shape) == 4:  # [B, K, H, W, C] -> [B, K*C, H, W]
            return obs.permute(0, 1, 4, 2, 3).flatten(1, 2)
        if image_channels_first(self.shape) != self.shape:  # [B, H, W, C]
            return obs.permute(0, 3, 1, 2)
        return obs

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = self.channels_first(obs)
        if x.device.type == "cpu":  # oneDNN's channels-last convolutions: a fifth off a CPU update
            x = x.contiguous(memory_format=torch.channels_last)
        return torch.relu(self.fc(self.convs(x.float() / 255.0)))


class ObsEncoder(nn.Module):
    """Observations to flat float vectors: Box flattened, Discrete one-hot; optional running
    mean/std normalisation whose statistics live in buffers, so they are saved with the policy."""

    def __init__(self, space: gym.Space, normalize: bool, clip: float = 10.0):
        super().__init__()
        self.discrete_n = int(space.n) if isinstance(space, gym.spaces.Discrete) else 0
        self.dim = self.discrete_n or int(np.prod(space.shape))
        self.normalize = normalize
        self.clip = clip
        self.register_buffer("mean", torch.zeros(self.dim))
        self.register_buffer("var", torch.ones(self.dim))
        self.register_buffer("count", torch.tensor(1e-4))

    def flat(self, obs: torch.Tensor) -> torch.Tensor:
        if self.discrete_n:
            return nn.functional.one_hot(obs.long(), self.discrete_n).float()
        return obs.reshape(obs.shape[0], -1).float()

    @torch.no_grad()
    def update(self, obs: torch.Tensor) -> None:
        """Fold a batch into the running statistics."""
        if self.normalize:
            self.fold(*self.moments(obs))

    @torch.no_grad()
    def moments(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """A batch's mean, variance and size, all `fold` needs of it."""
        x = self.flat(obs)
        return x.mean(0), x.var(0, unbiased=False), x.shape[0]

    @torch.no_grad()
    def fold(self, batch_mean: torch.Tensor, batch_var: torch.Tensor, n: int) -> None:
        """Merge a batch's moments into the running statistics (parallel-variance formula)."""
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean += delta * n / total
        self.var.copy_((self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total)
        self.count.fill_(total)

    @torch.no_grad()
    def set_statistics(self, obs: torch.Tensor) -> None:
        """Replace the statistics by those of one batch (e.g. a whole dataset), to be kept fixed."""
        x = self.flat(obs)
        self.mean.copy_(x.mean(0))
        self.var.copy_(x.var(0, unbiased=False))
        self.count.fill_(x.shape[0])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.encode(obs)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        x = self.flat(obs)
        if self.normalize:
            x = ((x - self.mean) / torch.sqrt(self.var + 1e-8)).clamp(-self.clip, self.clip)
        return x


class ActorCritic(nn.Module):
    """Separate policy and value MLPs over a shared observation encoder; with `shared`, one MLP
    body (the hidden layers) under a linear policy head and a linear value head.

    Discrete actions get a categorical head; Box actions a diagonal Gaussian with a
    state-independent log std. Actions are sampled unclipped (so log-probs are exact) and
    clipped to the bounds only when sent to the environment (`to_env`).
    """

    def __init__(
        self,
        obs_space: gym.Space,
        act_space: gym.Space,
        hidden: list[int],
        activation: str = "tanh",
        normalize_obs: bool = False,
        init_log_std: float = 0.0,
        shared: bool = False,
        encoder: str = "mlp",
        clip_obs: float = 10.0,
    ):
        super().__init__()
        self.encoder = ObsEncoder(obs_space, normalize_obs, clip_obs)
        self.discrete = isinstance(act_space, gym.spaces.Discrete)
        out = int(act_space.n) if self.discrete else int(np.prod(act_space.shape))
        # images: the Nature CNN, one trunk under both heads (as CleanRL's ppo_atari)
        trunk = NatureCNN(obs_space) if encoder == "cnn" else None
        features = self.encoder.dim if trunk is None else trunk.dim
        body = nn.Sequential()  # no shared layers: the identity
        head_in, head_hidden = features, list(hidden)
        if shared and hidden:
            body = nn.Sequential(*mlp([features, *hidden], activation, math.sqrt(2)))
            body.append(ACTIVATIONS[activation]())
            head_in, head_hidden = hidden[-1], []
        # parameters in the order log_std (a module's own come first), actor, trunk, body, critic:
        # the actor's and the critic's each fill one contiguous range of a flat buffer (rlrun.optim)
        self.actor = mlp([head_in, *head_hidden, out], activation, out_gain=0.01)
        critic = mlp([head_in, *head_hidden, 1], activation, out_gain=1.0)
        self.trunk, self.body, self.critic = trunk, body, critic
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((out,), float(init_log_std)))
            self.act_shape = act_space.shape
            self.register_buffer("low", torch.as_tensor(act_space.low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(act_space.high, dtype=torch.float32))

    def shared_parameters(self) -> list[nn.Parameter]:
        """The CNN trunk and the shared MLP body, under both heads."""
        trunk = [] if self.trunk is None else list(self.trunk.parameters())
        return [*trunk, *self.body.parameters()]

    def actor_parameters(self) -> list[nn.Parameter]:
        """What the policy gradient moves: the policy MLP (and log std), and the shared layers."""
        extra = [self.log_std] if not self.discrete else []
        return [*self.shared_parameters(), *self.actor.parameters(), *extra]

    def optimizers(self, lr: float, critic_lr: float) -> tuple[FlatAdam, FlatAdam]:
        """Adam for the actor's parameters and one for the critic's, over one flat buffer."""
        flat = FlatParameters(self)
        actor = FlatAdam(flat, self.actor_parameters(), lr=lr)
        return actor, FlatAdam(flat, self.critic_parameters(), lr=critic_lr)

    def critic_parameters(self) -> list[nn.Parameter]:
        """What the value regression moves: the value MLP, and the shared layers."""
        return [*self.shared_parameters(), *self.critic.parameters()]

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The policy head's output (logits, or the Gaussian mean) and V(s), in one pass of the
        encoder and body."""
        x = self.features(obs)
        return run_mlp(self.actor, x), run_mlp(self.critic, x).squeeze(-1)

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """The encoded observation (through the CNN for images) and the shared body (the identity
        without one)."""
        x = self.encoder.encode(obs) if self.trunk is None else self.trunk(obs)
        return run_mlp(self.body, x)

    def policy_output(self, obs: torch.Tensor) -> torch.Tensor:
        """The policy head's output alone: logits, or the Gaussian mean."""
        return run_mlp(self.actor, self.features(obs))

    def dist(self, obs: torch.Tensor) -> Distribution:
        out = self.policy_output(obs)
        if self.discrete:
            return Categorical(logits=out)
        return Independent(Normal(out, self.log_std.exp().expand_as(out)), 1)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return run_mlp(self.critic, self.features(obs)).squeeze(-1)

    # The two calls of the hot loops (collecting, PPO's update) compute log pi(a|s) and the
    # entropy from the head's output directly: the same numbers as self.dist's, without building
    # a torch Distribution each time (tests/test_nets.py checks they agree).
    @torch.no_grad()
    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a ~ pi(.|s) and log pi(a|s) for a batch of observations (the actor alone: a collector
        values a whole rollout's states in one batched pass afterwards)."""
        return self.sample_from(self.policy_output(obs))

    @torch.no_grad()
    def sample_with_value(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """a ~ pi(.|s), log pi(a|s) and V(s) from one pass of the trunk: with a CNN, a second
        pass over the rollout's states later would cost as much as acting did."""
        out, value = self.forward(obs)
        return *self.sample_from(out), value

    def sample_from(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a ~ pi(.|s) and log pi(a|s) from the policy head's output."""
        if self.discrete:
            logp_all = out.log_softmax(-1)
            # Gumbel-max: argmax(log p + G), G = -log(E), E ~ Exp(1), is a draw from p
            action = (logp_all - torch.empty_like(out).exponential_().log()).argmax(-1)
            return action, logp_all.gather(-1, action.unsqueeze(-1)).squeeze(-1)
        action = out + self.log_std.exp() * torch.randn_like(out)
        return action, self.gaussian_log_prob(out, action)

    def evaluate(
        self, obs: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """log pi(a|s), the entropy of pi(.|s) and V(s), differentiable."""
        out, value = self.forward(obs)  # (not self(obs): the module-call overhead again)
        if self.discrete:
            logp_all = out.log_softmax(-1)
            logp = logp_all.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
            entropy = -(logp_all.exp() * logp_all).sum(-1)
            return logp, entropy, value
        entropy = (0.5 + LOG_SQRT_2PI + self.log_std).sum().expand(out.shape[0])
        return self.gaussian_log_prob(out, actions), entropy, value

    def gaussian_log_prob(self, mean: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        z = (actions - mean) / self.log_std.exp()
        return (-0.5 * z.square() - self.log_std - LOG_SQRT_2PI).sum(-1)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        if not deterministic:
            return self.sample(obs)[0]
        out = self.policy_output(obs)
        return out.argmax(-1) if self.discrete else out

    def to_env(self, action: torch.Tensor) -> torch.Tensor:
        """The action as the environment takes it: clipped to the Box bounds, in its shape."""
        if self.discrete:
            return action
        action = torch.max(torch.min(action, self.high), self.low)
        return action.reshape(action.shape[0], *self.act_shape)


def make_agent(cfg: Any, envs: gym.vector.VectorEnv) -> ActorCritic:
    """The actor-critic an algorithm config describes (hidden, activation, normalize_obs,
    init_log_std, encoder, and `shared` and `clip_obs` where the config has them), for the spaces
    of `envs`."""
    space = envs.single_observation_space
    encoder = choose_encoder(getattr(cfg, "encoder", "auto"), space)
    if encoder == "cnn" and cfg.normalize_obs:
        raise ConfigError("algo.normalize_obs", "images are scaled by 1/255 in the CNN: set it false")
    return ActorCritic(
        space,
        envs.single_action_space,
        list(cfg.hidden),
        cfg.activation,
        cfg.normalize_obs,
        cfg.init_log_std,
        getattr(cfg, "shared", False),
        encoder,
        getattr(cfg, "clip_obs", 10.0),
    )


class QFunction(nn.Module):
    """Q(s, .) for every action at once; as a policy it is greedy: argmax_a Q(s, a)."""

    def q_values(self, obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.q_values(obs)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        return self.q_values(obs).argmax(-1)

    def to_env(self, action: torch.Tensor) -> torch.Tensor:
        return action


class QNetwork(QFunction):
    """An MLP from the (encoded) observation to one Q value per action; with `normalize`, the
    encoder standardises observations by statistics its owner sets once (fqi: the replay store's)."""

    def __init__(
        self,
        obs_space: gym.Space,
        num_actions: int,
        hidden: list[int],
        activation: str = "relu",
        normalize: bool = False,
        encoder: str = "mlp",
    ):
        super().__init__()
        self.encoder = ObsEncoder(obs_space, normalize=normalize)
        self.trunk = NatureCNN(obs_space) if encoder == "cnn" else None  # images: Mnih et al.'s
        features = self.encoder.dim if self.trunk is None else self.trunk.dim
        self.body = mlp([features, *hidden, num_actions], activation, out_gain=1.0)

    def q_values(self, obs: torch.Tensor) -> torch.Tensor:
        x = self.encoder.encode(obs) if self.trunk is None else self.trunk(obs)
        return run_mlp(self.body, x)


class QTable(QFunction):
    """An exact table Q[s, a] for Discrete observations (the tabular case of fitted Q-iteration)."""

    def __init__(self, num_states: int, num_actions: int):
        super().__init__()
        self.table = nn.Parameter(torch.zeros(num_states, num_actions))

    def q_values(self, obs: torch.Tensor) -> torch.Tensor:
        return self.table[obs.long()]
