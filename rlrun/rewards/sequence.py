"""A toy of the language-model setting of the RLHF case study: a policy writes LENGTH tokens from a
small vocabulary, one per step; the "pretraining corpus" comes from a small grammar; the labeler's
rule likes one word. Importing this module registers `rlrun/Tokens-v0`:

    rlrun train algo=ppo env=gym env.id=rlrun.rewards.sequence:rlrun/Tokens-v0 ...

Observation: the one-hot of the last CONTEXT tokens (zeros before the start) and of the position.
Action: the next token. Reward (the labeler's rule): +1 for every "happy" written. The episode
terminates after LENGTH tokens (the position is observed, so this is Markov). With no KL penalty
the policy may learn to write "happy happy happy ...", which pays and is no sentence: `grammatical`
measures how many of a text's bigrams the grammar allows.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

VOCAB = ("the", "a", "cat", "dog", "happy", "small", "sees", "runs", ".")
LENGTH = 12
CONTEXT = 2
TOKEN = {word: i for i, word in enumerate(VOCAB)}

# the grammar: sentence = det [adj] noun verb [det [adj] noun] "."
DETERMINERS, ADJECTIVES, NOUNS = ("the", "a"), ("happy", "small"), ("cat", "dog")


def sentence(rng: np.random.Generator) -> list[str]:
    def noun_phrase() -> list[str]:
        adjective = [str(rng.choice(ADJECTIVES))] if rng.random() < 0.3 else []
        return [str(rng.choice(DETERMINERS)), *adjective, str(rng.choice(NOUNS))]

    verb = str(rng.choice(("sees", "runs")))
    obj = noun_phrase() if verb == "sees" else []
    return [*noun_phrase(), verb, *obj, "."]


def corpus_text(rng: np.random.Generator) -> list[str]:
    """LENGTH tokens of running text: sentences one after another, cut at LENGTH."""
    words: list[str] = []
    while len(words) < LENGTH:
        words += sentence(rng)
    return words[:LENGTH]


def allowed_bigrams(samples: int = 2000, seed: int = 0) -> set[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    pairs: set[tuple[str, str]] = set()
    for _ in range(samples):
        words = corpus_text(rng)
        pairs |= set(zip(words[:-1], words[1:], strict=True))
    return pairs


def grammatical(words: list[str], allowed: set[tuple[str, str]]) -> float:
    """The share of a text's bigrams that the grammar's corpus holds."""
    bigrams = list(zip(words[:-1], words[1:], strict=True))
    return sum(b in allowed for b in bigrams) / max(len(bigrams), 1)


def observation(tokens: list[int]) -> np.ndarray:
    obs = np.zeros(CONTEXT * len(VOCAB) + LENGTH, np.float32)
    for k, token in enumerate(tokens[-CONTEXT:][::-1]):  # the last token first
        obs[k * len(VOCAB) + token] = 1.0
    obs[CONTEXT * len(VOCAB) + min(len(tokens), LENGTH - 1)] = 1.0
    return obs


class TokensEnv(gym.Env):
    def __init__(self) -> None:
        size = CONTEXT * len(VOCAB) + LENGTH
        self.observation_space = gym.spaces.Box(0.0, 1.0, (size,), np.float32)
        self.action_space = gym.spaces.Discrete(len(VOCAB))
        self.tokens: list[int] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.tokens = []
        return observation(self.tokens), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.tokens.append(int(action))
        reward = 1.0 if int(action) == TOKEN["happy"] else 0.0  # the labeler's rule
        return observation(self.tokens), reward, len(self.tokens) >= LENGTH, False, {}


def corpus_dataset(texts: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The corpus as bc's demonstrations: obs and actions of `texts` texts of LENGTH tokens."""
    rng = np.random.default_rng(seed)
    obs, actions = [], []
    for _ in range(texts):
        tokens: list[int] = []
        for word in corpus_text(rng):
            obs.append(observation(tokens))
            actions.append(TOKEN[word])
            tokens.append(TOKEN[word])
    return {"obs": np.stack(obs), "actions": np.array(actions, np.int64)}


if "rlrun/Tokens-v0" not in gym.registry:
    gym.register("rlrun/Tokens-v0", entry_point=TokensEnv)
