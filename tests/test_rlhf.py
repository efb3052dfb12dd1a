"""The RLHF case study: Bradley-Terry by hand, a reward model recovering a tabular reward, the KL
penalty and its controller, bad keys in one line, and exact resumes of bc, the preference loop and
KL-penalised ppo after SIGTERM; the token env's true score and grammar."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import assert_one_line_error, rlrun, rlrun_in_process, summary
from test_interrupt_resume import alone_and_resumed

from rlrun.rewards.model import Pairs, RewardModel, bradley_terry_loss, fit_reward_model
from rlrun.rewards.preferences import load_labels, sample_segments, synthetic_labels
from rlrun.rewards.sequence import (
    LENGTH,
    SENTENCES,
    TOKEN,
    VOCAB,
    TokensEnv,
    corpus_dataset,
    is_sentence,
    true_score,
)
from rlrun.rewards.shaping import adapt_beta, kl_penalized


def test_bradley_terry_loss_and_gradient_match_a_hand_computation():
    s1 = torch.tensor([2.0, 0.5], requires_grad=True)
    s2 = torch.tensor([1.0, 1.5], requires_grad=True)
    mu = torch.tensor([1.0, 0.5])
    loss = bradley_terry_loss(s1, s2, mu)
    # P(1>2) = e^2 / (e^2 + e^1) = 1 / (1 + e^-1); second pair: 1 / (1 + e^1), label 1/2
    p1, p2 = 1 / (1 + math.exp(-1)), 1 / (1 + math.exp(1))
    expected = (-math.log(p1) - 0.5 * math.log(p2) - 0.5 * math.log(1 - p2)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    # d/ds1 of -mu log P - (1-mu) log(1-P) = (P - mu), over the batch of 2
    assert s1.grad.tolist() == pytest.approx([(p1 - 1) / 2, (p2 - 0.5) / 2], rel=1e-6)
    assert s2.grad.tolist() == pytest.approx([-(p1 - 1) / 2, -(p2 - 0.5) / 2], rel=1e-6)


def tabular_rollout(S: int, A: int, T: int, E: int, R: torch.Tensor) -> dict[str, torch.Tensor]:
    """A random policy on a random MDP with reward table R, as time-major steps [T, E]."""
    P = torch.softmax(torch.randn(S, A, S) * 2, -1)
    s = torch.randint(S, (E,))
    obs, actions, rewards = [], [], []
    for _ in range(T):
        a = torch.randint(A, (E,))
        obs.append(s), actions.append(a), rewards.append(R[s, a])
        s = torch.multinomial(P[s, a], 1).squeeze(-1)
    never = torch.zeros(T, E, dtype=torch.bool)
    return {
        "obs": torch.stack(obs),
        "actions": torch.stack(actions),
        "rewards": torch.stack(rewards),
        "terminated": never,
        "truncated": never,
    }


def test_reward_model_recovers_a_tabular_reward_up_to_its_invariances():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    S, A, L, M = 8, 3, 4, 5000
    R = torch.randn(S, A)
    steps = tabular_rollout(S, A, 400, 8, R)
    g = torch.Generator().manual_seed(0)
    obs, actions, alive, returns = sample_segments(steps, L, 2 * M, g)
    label = synthetic_labels(returns[:M], returns[M:], 1.0, 0.0, g)
    pairs = Pairs(*(torch.stack([x[:M], x[M:]], 1) for x in (obs, actions, alive)), label)
    model = RewardModel(gym.spaces.Discrete(S), gym.spaces.Discrete(A), [64], 1)
    metrics = fit_reward_model(model, pairs, torch.arange(M) % 5 == 0, 150, M, 1e-2, g)
    assert metrics["rlhf/rm_accuracy"] > 0.75
    s, a = torch.meshgrid(torch.arange(S), torch.arange(A), indexing="ij")
    learned = model(s.flatten(), a.flatten())
    # Bradley-Terry on equal-length segments knows r up to an added constant (and, with the
    # model's normalisation, a positive scale): the correlation is what must match
    assert torch.corrcoef(torch.stack([learned, R.flatten()]))[0, 1] >= 0.99


def test_reward_model_sees_box_actions_clipped_to_the_bounds_the_env_applies():
    torch.manual_seed(0)
    box = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
    model = RewardModel(gym.spaces.Box(-1.0, 1.0, (3,), np.float32), box, [16], 2)
    obs = torch.randn(4, 3)
    inside = torch.tensor([[-2.0], [-0.5], [1.0], [2.0]])
    outside = torch.tensor([[-7.0], [-0.5], [1.0], [9.0]])
    assert torch.equal(model(obs, outside), model(obs, inside))
    assert "low" not in model.state_dict()  # reward_model.pt keeps its format


def test_segments_end_in_a_termination_or_run_full_length():
    T, E, L = 12, 1, 5
    terminated = torch.zeros(T, E, dtype=torch.bool)
    truncated = torch.zeros(T, E, dtype=torch.bool)
    terminated[3], truncated[9] = True, True
    steps = {
        "obs": torch.arange(T).view(T, E, 1).float(),
        "actions": torch.zeros(T, E, dtype=torch.long),
        "rewards": torch.ones(T, E),
        "terminated": terminated,
        "truncated": truncated,
    }
    obs, _, alive, returns = sample_segments(steps, L, 200, torch.Generator().manual_seed(0))
    starts = set(obs[:, 0, 0].long().tolist())
    # 0..3 end at the termination at 3 (padded); 4 and 5 run 5 steps to 8 and 9... but 5 would
    # reach the truncation at 9; 6..9 cross the truncation; 10, 11 run off the data
    assert starts == {0, 1, 2, 3, 4}
    for s, a, r in zip(obs[:, 0, 0].long().tolist(), alive, returns, strict=True):
        n = 4 - s if s <= 3 else 5
        assert a.tolist() == [True] * n + [False] * (5 - n) and r.item() == n


def test_synthetic_labeler_prefers_the_higher_return_and_errs_at_its_rate():
    g = torch.Generator().manual_seed(0)
    r1, r2 = torch.tensor([3.0, 1.0, 2.0] * 4000), torch.tensor([1.0, 3.0, 2.0] * 4000)
    exact = synthetic_labels(r1, r2, 0.0, 0.0, g)
    assert exact[:3].tolist() == [1.0, 0.0, 0.5]
    noisy = synthetic_labels(r1, r2, 0.0, 0.1, g)
    wrong = (noisy[0::3] == 0).float().mean().item()  # a coin flip 10% of the time: wrong half of those
    assert wrong == pytest.approx(0.05, abs=0.01)


def test_penalized_reward_is_r_minus_beta_times_the_log_ratio_exactly():
    r = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
    logp = torch.tensor([[-0.1, -2.0], [-0.7, -1.2]])
    logp_ref = torch.tensor([[-0.3, -1.0], [-0.7, -3.0]])
    out = kl_penalized(r, logp, logp_ref, 0.25)
    expected = torch.tensor([[1.0 - 0.25 * 0.2, -2.0 - 0.25 * -1.0], [0.5, 0.0 - 0.25 * 1.8]])
    assert torch.equal(out, expected)


def test_the_controller_raises_beta_above_the_target_and_lowers_it_below():
    assert adapt_beta(0.1, kl=0.2, target=0.1, batch=1000, horizon=10000) > 0.1
    assert adapt_beta(0.1, kl=0.05, target=0.1, batch=1000, horizon=10000) < 0.1
    assert adapt_beta(0.1, kl=0.1, target=0.1, batch=1000, horizon=10000) == 0.1
    # the error is clipped to +-20%, weighed by batch / horizon
    assert adapt_beta(0.1, kl=5.0, target=0.1, batch=1000, horizon=10000) == pytest.approx(0.1 * 1.02)


# ---------------------------------------------------------------------------- through the CLI


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    """A bc run on random-policy CartPole transitions: a dataset and a reference for ppo."""
    root = tmp_path_factory.mktemp("demos")
    result = rlrun("collect", "env=CartPole", "transitions=2000", "out=demos.npz", cwd=root)
    assert result.returncode == 0, result.stderr
    result = rlrun(
        "train", "algo=bc", "env=CartPole", f"algo.dataset={root / 'demos.npz'}",
        "total_steps=20000", "eval.every=0", "eval.episodes=2", "hydra.run.dir=bc", cwd=root,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return root


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["reward=preferences", "reward.comparisons=0"], "reward.comparisons: must be an integer > 0, got 0"),
        (["reward=preferences", "reward.error=1.5"], "reward.error: must be in [0, 1], got 1.5"),
        (["reward=preferences", "reward.weight_decay=-1"], "reward.weight_decay: must be >= 0, got -1"),
        (["algo.reference_kl=0.01"], "algo.reference_kl: needs algo.reference=RUN_DIR"),
        (["reward=model"], "reward.model: reward=model needs a run dir holding reward_model.pt"),
        (["reward=model", "reward.model=nowhere"], "reward.model: nowhere holds no reward_model.pt"),
        (["algo=pg", "reward=preferences"], "reward: reward=preferences trains with algo=ppo only"),
        (["algo.kl_coef=0.1"], "algo.kl_coef: needs algo.reference=RUN_DIR"),
        (["algo.reference=nowhere"], "algo.reference: nowhere: no such run dir"),
        (["algo=bc", "algo.dataset=missing.npz"], "algo.dataset: missing.npz: no such file"),
        (["algo=bc"], "algo.dataset: a value is required here"),
    ],
)
def test_bad_rlhf_keys_are_refused_in_one_line(overrides, expected, workdir):
    result = rlrun_in_process("train", "env=CartPole", "total_steps=1000", *overrides, cwd=workdir)
    assert_one_line_error(result, expected, workdir)


def test_labels_file_is_written_in_the_documented_format_and_read_back(demos, tmp_path):
    result = rlrun(
        "train", "env=CartPole", "reward=preferences", "reward.comparisons=40", "reward.segment=10",
        "reward.epochs=2", "total_steps=2048", "eval.every=0", "eval.episodes=2", "hydra.run.dir=run",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "run"
    with np.load(run_dir / "labels.npz") as npz:
        assert npz["alive"].shape[1:] == (2, 10) and npz["obs"].shape[1:] == (2, 10, 4)
        assert npz["returns"].shape[1] == 2 and len(npz["label"]) == 40
    assert len(load_labels(run_dir / "labels.npz", torch.device("cpu"))) == 40
    done = summary(run_dir)
    assert done["comparisons"] == 40 and "learned_return_mean" in done
    # a person's labels (here the same file) train a policy, and the fitted model another
    result = rlrun(
        "train", "env=CartPole", "reward=preferences", f"reward.labels={run_dir / 'labels.npz'}",
        "total_steps=512", "eval.every=0", "eval.episodes=2", "hydra.run.dir=labelled", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = rlrun(
        "train", "env=CartPole", "reward=model", f"reward.model={run_dir}", "total_steps=512",
        "eval.every=0", "eval.episodes=2", "hydra.run.dir=model", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def resume_runs(demos):
    dataset, bc = demos / "demos.npz", demos / "bc"
    common = ["env=CartPole", "eval.episodes=2", "checkpoint.every=1"]
    return {
        "bc": [*common, "algo=bc", f"algo.dataset={dataset}", "total_steps=30000", "eval.every=10000"],
        "preferences": [
            *common, "reward=preferences", "reward.comparisons=60", "reward.segment=10", "reward.every=1024",
            "reward.epochs=2", "total_steps=6144", "eval.every=2048",
        ],
        "kl": [
            *common, f"algo.reference={bc}", "algo.kl_coef=0.1", "algo.reference_kl=0.01",
            "total_steps=6144", "eval.every=2048",
        ],
    }  # fmt: skip


@pytest.mark.parametrize("name", ["bc", "preferences", "kl"])
def test_rlhf_runs_resume_exactly_after_sigterm(name, demos, tmp_path):
    alone, resumed_dir = alone_and_resumed(resume_runs(demos)[name], tmp_path)
    resumed, reference = summary(resumed_dir), summary(alone)
    for key in ("env_steps", "eval_return_mean", "learned_return_mean", "kl_final", "kl_coef_final"):
        assert resumed.get(key) == reference.get(key), key
    params = torch.load(resumed_dir / "checkpoint.pt", weights_only=True)["algo"]
    params_alone = torch.load(alone / "checkpoint.pt", weights_only=True)["algo"]
    for tensor_name, tensor in params_alone["agent"].items():
        assert torch.equal(params["agent"][tensor_name], tensor), tensor_name
    if name == "preferences":
        model, model_alone = (
            params["shaping"]["learner"]["model"],
            params_alone["shaping"]["learner"]["model"],
        )
        for tensor_name, tensor in model_alone.items():
            assert torch.equal(model[tensor_name], tensor), tensor_name


def test_the_labelers_true_score_pays_happy_as_an_adjective_in_grammatical_text_only():
    def score(text: str) -> float:
        return true_score(text.split())

    assert score("the happy cat sees a happy dog .") == 2.0  # two adjective uses
    assert score("a happy dog runs .") == 1.0
    assert score("a small cat sees the dog .") == 0.0
    # "happy" not between a determiner and a noun pays nothing; each disallowed bigram costs 1
    assert score("the cat sees happy dog .") == -1.0  # (sees, happy)
    assert score("happy cat runs .") == -1.0  # a sentence starts with a determiner
    assert score("the happy happy cat .") == -1.0  # (happy, happy); (happy, cat) after happy pays nothing
    assert score("happy happy cat cat") == -3.0
    # cut at the limit of 12 tokens without "." costs 1 more: 5 bad bigrams (cat, the) and the cut
    assert score("the cat " * 6) == -6.0


def test_the_token_env_ends_an_output_at_its_end_token_or_the_limit_and_pays_the_score():
    env = TokensEnv()
    for text, ends_at in (("a happy cat sees the dog .", 7), ("the happy happy cat cat cat", LENGTH)):
        words = (text.split() * LENGTH)[:LENGTH]
        env.reset(seed=0)
        rewards = []
        for t, word in enumerate(words):
            _, reward, terminated, truncated, _ = env.step(TOKEN[word])
            rewards.append(reward)
            assert terminated == (t + 1 == ends_at) and not truncated
            if terminated:
                break
        assert len(rewards) == ends_at and sum(rewards) == true_score(words[:ends_at])
    data = corpus_dataset(50)
    ends = np.flatnonzero(data["actions"] == TOKEN["."])
    starts = np.r_[0, ends[:-1] + 1]
    assert len(ends) == 50 and ends[-1] == len(data["actions"]) - 1
    words = [[VOCAB[a] for a in data["actions"][s : e + 1]] for s, e in zip(starts, ends, strict=True)]
    assert all(is_sentence(w) for w in words)
    assert data["obs"].shape == (len(data["actions"]), env.observation_space.shape[0])


def test_is_sentence_accepts_the_grammars_language_only():
    assert len(SENTENCES) == 12 + 12 * 12  # 12 noun phrases; "runs", or "sees" and an object
    assert is_sentence("a small dog sees the happy cat .".split())
    assert not is_sentence("the cat sees .".split()) and not is_sentence("the cat runs".split())
