"""ADR (rlrun.envs.adr): boundaries widen at t_H and narrow at t_L once their buffer holds m episodes,
ranges hold the nominal value and stay in their limits, the entropy is nats per dimension, probes pin
one parameter to a boundary, and a run with ADR resumes exactly after SIGTERM."""

from __future__ import annotations

import io
import math

import pytest
import torch
from conftest import assert_one_line_error, rlrun, summary
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_interrupt_resume import alone_and_resumed, flatten_tensors

from rlrun.envs.adr import ADR, ENTROPY_FLOOR, adr_entropy
from rlrun.envs.factory import make_envs
from rlrun.errors import ConfigError
from rlrun.schema import EnvConfig, check_env


def scripted_adr(buffer: int = 3) -> ADR:
    """Two parameters a (nominal 1, limits [0, 5], delta 0.5) and b (nominal 2, limits [1, 3],
    delta 1), one env per boundary: env 2i + side probes parameter i's low (0) or high (1) side."""
    adr = ADR(["a", "b"], [1.0, 2.0], [(0.0, 5.0), (1.0, 3.0)], [0.5, 1.0], buffer, 10.0, 20.0, 0.5, 4,
              torch.device("cpu"))  # fmt: skip
    adr.probe = torch.arange(4)
    return adr


def episodes(adr: ADR, returns: list[float], times: int) -> None:
    done = torch.ones(4, dtype=torch.bool)
    for _ in range(times):
        adr.record(done, torch.tensor(returns))


def ranges(adr: ADR) -> list[list[float]]:
    return [adr.low.tolist(), adr.high.tolist()]


def test_a_boundary_widens_when_its_buffer_mean_reaches_t_high_and_only_when_full():
    adr = scripted_adr()
    episodes(adr, [25.0, 20.0, 30.0, 40.0], 2)
    assert ranges(adr) == [[1.0, 2.0], [1.0, 2.0]], "2 < m episodes: not judged yet"
    episodes(adr, [25.0, 20.0, 30.0, 40.0], 1)
    assert ranges(adr) == [[0.5, 1.0], [1.5, 3.0]], "mean >= t_H: each boundary moved out by its delta"
    assert adr.counts.tolist() == [0] * 5 and adr.sums.tolist() == [0.0] * 5, "buffers cleared"
    episodes(adr, [25.0, 25.0, 25.0, 25.0], 3)
    assert ranges(adr) == [[0.0, 1.0], [2.0, 3.0]], "limits: b's [1, 3] holds, a's low stops at 0"


def test_a_boundary_narrows_when_its_buffer_mean_is_at_most_t_low_and_never_crosses_nominal():
    adr = scripted_adr()
    episodes(adr, [30.0] * 4, 3)
    episodes(adr, [30.0] * 4, 3)
    assert ranges(adr) == [[0.0, 1.0], [2.0, 3.0]]
    # ranges() is [[a_low, b_low], [a_high, b_high]]: a = [0, 2], b = [1, 3]
    episodes(adr, [10.0, 5.0, 15.0, 10.0], 3)  # means <= t_L narrow; b's low (15, between) is kept
    assert ranges(adr) == [[0.5, 1.0], [1.5, 2.0]]
    episodes(adr, [0.0] * 4, 9)
    assert ranges(adr) == [[1.0, 2.0], [1.0, 2.0]], "narrowed back to the nominal point, not past it"


def test_only_probing_episodes_that_ended_fill_buffers():
    adr = scripted_adr(buffer=1)
    adr.probe = torch.tensor([0, adr.none, adr.none, 3])
    adr.record(torch.tensor([False, True, True, True]), torch.tensor([30.0, 30.0, 30.0, 30.0]))
    assert ranges(adr) == [[1.0, 2.0], [1.0, 3.0]]


def test_entropy_is_the_mean_log_width_with_a_floor():
    low, high = torch.tensor([0.0, 1.0, 5.0]), torch.tensor([1.0, 1.0 + math.e, 5.0])
    expected = (0.0 + 1.0 + math.log(ENTROPY_FLOOR)) / 3
    assert float(adr_entropy(low, high)) == pytest.approx(expected)
    adr = scripted_adr()
    assert adr.metrics()["adr/entropy"] == pytest.approx(math.log(ENTROPY_FLOOR)), "every range a point"
    episodes(adr, [30.0] * 4, 3)  # a: [0.5, 1.5] (width 1), b: [1, 3] (width 2)
    metrics = adr.metrics()
    assert metrics["adr/entropy"] == pytest.approx(math.log(2) / 2)
    assert metrics["adr/b_low"] == 1.0 and metrics["adr/b_high"] == 3.0


def test_probes_pin_one_parameter_to_a_boundary_and_the_rest_are_drawn_in_range():
    adr = scripted_adr()
    episodes(adr, [30.0] * 4, 3)  # a: [0.5, 1.5], b: [1, 3]
    generator = torch.Generator().manual_seed(0)
    adr.p_boundary = 1.0
    values, probe = adr.draw(1000, generator)
    assert (probe < adr.none).all()
    pinned = values[torch.arange(1000), probe // 2]
    assert torch.equal(pinned, adr.bounds[probe])
    assert set(probe.tolist()) == {0, 1, 2, 3}
    adr.p_boundary = 0.0
    values, probe = adr.draw(1000, generator)
    assert (probe == adr.none).all()
    assert (values >= adr.low).all() and (values <= adr.high).all() and values.std(0).min() > 0.2


def test_the_cpu_way_judges_buffers_exactly_as_the_tensor_way():
    """record_some (Python judging on the CPU) and record (torch.where, no sync) move the same
    boundaries to the same bits, with several episodes per step and buffers that overfill."""
    # steps that are not exact binary fractions, so the arithmetic's every bit counts
    ways = [ADR(["a", "b"], [1.0, 2.0], [(0.0, 5.0), (1.0, 3.0)], [0.3, 0.7], 3, 10.0, 20.0, 0.5, 4,
                torch.device("cpu")) for _ in range(2)]  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        probe = torch.randint(0, 5, (4,), generator=generator)  # 4 = NONE: probed nothing
        done = torch.rand(4, generator=generator) < 0.7
        returns = torch.rand(4, generator=generator) * 30
        for adr in ways:
            adr.probe = probe
        ways[0].record(done, returns)
        ways[1].record_some(done.nonzero(as_tuple=True)[0], returns)
        assert torch.equal(ways[0].bounds, ways[1].bounds)
        assert torch.equal(ways[0].counts[:4], ways[1].counts[:4])
        assert torch.equal(ways[0].sums[:4], ways[1].sums[:4])
    assert (ways[0].high - ways[0].low).max() > 0, "the ranges moved"


def test_draws_made_as_units_probe_with_p_b_and_pin_exactly():
    adr = scripted_adr()
    episodes(adr, [30.0] * 4, 3)  # a: [0.5, 1.5], b: [1, 3]
    adr.p_boundary = 0.25
    units, probe = adr.draw_units(40_000, torch.Generator().manual_seed(1))
    probing = probe < adr.none
    assert abs(float(probing.double().mean()) - 0.25) < 0.01
    counts = torch.bincount(probe[probing], minlength=4).double() / int(probing.sum())
    assert (counts - 0.25).abs().max() < 0.02, "each boundary equally likely"
    assert ((units >= 0) & (units <= 1)).all()
    pinned = units[probe[probing] // 2, probing.nonzero(as_tuple=True)[0]]
    assert torch.equal(pinned, (probe[probing] % 2).double())
    values = adr.values(units)
    assert torch.equal(
        values[probe[probing] // 2, probing.nonzero(as_tuple=True)[0]], adr.bounds[probe[probing]]
    )
    free = units[:, ~probing]
    assert abs(float(free.mean()) - 0.5) < 0.01 and 0 < float(free.min()) and float(free.max()) < 1


def adr_cfg(**adr) -> EnvConfig:
    cfg = EnvConfig(id="CartPole-v1", backend="torch")
    cfg.adr.params = ["length", "masspole", "force_mag"]
    cfg.adr.t_low, cfg.adr.t_high = 5.0, 15.0
    for key, value in adr.items():
        setattr(cfg.adr, key, value)
    check_env(cfg)
    return cfg


@pytest.mark.parametrize("subset", [True, False], ids=["cpu-way", "cuda-way"])
def test_env_parameters_follow_adr_and_ranges_widen_on_an_easy_signal(subset):
    envs = make_envs(adr_cfg(buffer=2), 64, torch.device("cpu"))
    envs.subset = envs.envs.subset_reset = subset  # False: the CUDA way (no sync), run on the CPU
    envs.reset(seed=0)
    actions = torch.Generator().manual_seed(0)
    widest_low, widest_high = envs.adr.low.clone(), envs.adr.high.clone()
    for _ in range(600):
        envs.step(torch.randint(0, 2, (64,), generator=actions))
        # a boundary can also move back in; an env keeps its value until its next reset
        widest_low = torch.minimum(widest_low, envs.adr.low)
        widest_high = torch.maximum(widest_high, envs.adr.high)
    low, high = envs.adr.low, envs.adr.high
    assert (high - low).min() > 0, "a random policy's ~20 steps beat t_H=15 near nominal"
    length = envs.params["length"].double()
    assert (length >= widest_low[0] - 1e-6).all() and (length <= widest_high[0] + 1e-6).all()
    assert length.std() > 0
    assert envs.robustness_summary()["adr_entropy"] > math.log(ENTROPY_FLOOR)
    evaluation = make_envs(adr_cfg(buffer=2), 4, torch.device("cpu"), with_adr=False)
    evaluation.reset(seed=0)
    assert (evaluation.params["length"] == 0.5).all(), "evaluations play at the nominal value"


@pytest.mark.parametrize(
    ("adr", "key"),
    [
        ({"t_high": None}, "env.adr.t_high"),
        ({"t_low": 20.0}, "env.adr.t_low"),
        ({"p_boundary": 1.5}, "env.adr.p_boundary"),
        ({"buffer": 0}, "env.adr.buffer"),
        ({"limits": {"gravity": [1, 2]}}, "env.adr.limits.gravity"),
        ({"deltas": {"length": -1}}, "env.adr.deltas.length"),
    ],
)
def test_bad_adr_keys_name_the_key(adr, key):
    with pytest.raises(ConfigError) as err:
        adr_cfg(**adr)
    assert err.value.key == key


@pytest.mark.parametrize(
    ("adr", "key"),
    [
        ({"params": ["mass"]}, "env.adr.params"),
        ({"params": ["latency"]}, "env.adr.limits.latency"),
        ({"limits": {"length": [1.0, 2.0]}}, "env.adr.limits.length"),
    ],
)
def test_adr_names_and_limits_are_checked_against_the_env(adr, key):
    with pytest.raises(ConfigError) as err:
        make_envs(adr_cfg(**adr), 4, torch.device("cpu"))
    assert err.value.key == key


def test_a_bad_adr_key_is_one_line_on_the_command_line(workdir):
    result = rlrun("train", "env=CartPole", "env.backend=torch", "env.adr.params=[length]", cwd=workdir)
    assert_one_line_error(result, "env.adr.t_low", workdir)
    result = rlrun("train", "env=CartPole", "env.backend=torch", "env.adr.params=[mass]", "env.adr.t_low=1",
                   "env.adr.t_high=2", cwd=workdir)  # fmt: skip
    assert_one_line_error(result, "env.adr.params: CartPole-v1 has no parameter 'mass'", workdir)


ADR_RUN = ["algo=ppo", "env=CartPole", "env.backend=torch", "env.num_envs=16", "algo.N=512", "algo.S=4",
           "env.adr.params=[length,masspole,force_mag,obs_noise.uncorrelated]", "+env.adr.limits.obs_noise"
           ".uncorrelated=[0,0.1]", "env.adr.t_low=10", "env.adr.t_high=20", "env.adr.buffer=2",
           "env.obs_noise.correlated=0.05", "env.latency=[0,2]", "total_steps=4096", "eval.every=1024",
           "eval.episodes=2", "checkpoint.every=1"]  # fmt: skip


def test_a_run_with_adr_logs_its_ranges_and_resumes_exactly_after_sigterm(tmp_path):
    alone_dir, resumed_dir = alone_and_resumed(ADR_RUN, tmp_path)
    resumed, alone = summary(resumed_dir), summary(alone_dir)
    assert alone["adr_entropy"] > math.log(ENTROPY_FLOOR), "the ranges grew"
    for key in ("env_steps", "eval_return_mean", "adr_entropy", "adr_length_low", "adr_force_mag_high"):
        assert resumed[key] == alone[key], key
    saved = torch.load(resumed_dir / "checkpoint.pt", weights_only=True)
    saved_alone = torch.load(alone_dir / "checkpoint.pt", weights_only=True)
    flat, flat_alone = flatten_tensors(saved["envs"]), flatten_tensors(saved_alone["envs"])
    assert any("adr" in name for name in flat) and flat.keys() == flat_alone.keys()
    for name, tensor in flat_alone.items():
        assert torch.equal(flat[name], tensor), name
    events = EventAccumulator(str(alone_dir / "tb"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"adr/entropy", "adr/length_low", "adr/length_high", "adr/force_mag_high"} <= set(tags)
    assert len(events.Scalars("adr/entropy")) == 8, "one point per iteration"


@pytest.mark.parametrize("subset", [True, False], ids=["cpu-way", "cuda-way"])
def test_knobs_can_be_adr_parameters(subset):
    cfg = adr_cfg(params=["latency", "obs_noise.uncorrelated"], buffer=2,
                  limits={"latency": [0, 3], "obs_noise": {"uncorrelated": [0, 0.1]}},
                  deltas={"latency": 1, "obs_noise": {"uncorrelated": 0.02}})  # fmt: skip
    envs = make_envs(cfg, 64, torch.device("cpu"))
    envs.subset = envs.envs.subset_reset = subset
    envs.reset(seed=0)
    for _ in range(400):
        envs.step(torch.randint(0, 2, (64,)))
    assert envs.adr.high.tolist() == pytest.approx([3.0, 0.1]), (
        "random play beats t_H=15: both grew to the limit"
    )
    k = envs.per_env("latency")
    assert torch.equal(k, k.round()) and set(k.tolist()) <= {0.0, 1.0, 2.0, 3.0} and k.max() > 0
    assert torch.equal(envs._k, k.long()), "the queue reads k steps back"
    scale = envs.per_env("obs_noise.uncorrelated")
    assert 0 <= float(scale.min()) and float(scale.max()) <= 0.1 + 1e-7 and scale.std() > 0


@pytest.mark.parametrize("subset", [True, False], ids=["cpu-way", "cuda-way"])
def test_a_resumed_wrapper_with_adr_noise_and_latency_continues_exactly(subset):
    """The state (episodes, the draws made ahead, the action ring, ADR's buffers) goes through
    torch.save and torch.load(weights_only=True) and the copy steps exactly as the original."""
    cfg = adr_cfg(buffer=2)
    cfg.latency, cfg.obs_noise.correlated, cfg.obs_noise.uncorrelated = [0, 2], 0.05, 0.02
    check_env(cfg)
    a, b = make_envs(cfg, 64, torch.device("cpu")), make_envs(cfg, 64, torch.device("cpu"))
    for envs in (a, b):
        envs.subset = envs.envs.subset_reset = subset
    a.reset(seed=0)
    actions = torch.Generator().manual_seed(0)
    for _ in range(45):
        a.step(torch.randint(0, 2, (64,), generator=actions))
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    b.load_state_dict(torch.load(buffer, weights_only=True))
    for _ in range(45):
        chosen = torch.randint(0, 2, (64,), generator=actions)
        (oa, ra, ta, ua, ia), (ob, rb, tb, ub, ib) = a.step(chosen), b.step(chosen)
        assert torch.equal(oa, ob) and torch.equal(ra, rb) and torch.equal(ta, tb) and torch.equal(ua, ub)
        assert torch.equal(ia["final_obs"], ib["final_obs"])
        assert torch.equal(a.params["length"], b.params["length"])
        assert torch.equal(a.adr.bounds, b.adr.bounds)
    assert (a.adr.high - a.adr.low).max() > 0 and a.latency_on and a.offset_on and a.jitter_on
