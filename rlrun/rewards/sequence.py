"""A toy of the language-model setting of the RLHF case study. Importing this module registers
`rlrun/Tokens-v0`:

    rlrun train algo=ppo env=gym env.id=rlrun.rewards.sequence:rlrun/Tokens-v0 ...

An episode is one output: the policy writes one token per step from a 9-word vocabulary until it
writes the end token "." or reaches LENGTH tokens. Observation: the one-hot of the last CONTEXT
tokens (zeros before the start) and of the position. Action: the next token.

The "pretraining corpus" is sentences of a small grammar, det [adj] noun verb [det [adj] noun] ".",
with "sees" taking an object and "runs" none. The reward (the labeler's true score, which
rlrun's synthetic labeler compares) only makes sense for natural text:

    +1 for each "happy" used as an adjective: a determiner, "happy", then a noun;
    -1 for each token the grammar does not allow after the one before (the first must be a determiner);
    -1 for an output cut at the length limit without its end token.

It depends only on the last two tokens, the new one and the position, which the observation
holds, so a reward model r(s, a) can represent it. A grammatical output scores its number of
adjective "happy"s (0, 1 or 2); "happy happy cat cat" scores -3.
"""

from __future__ import annotations

import itertools
from typing import Any

import gymnasium as gym
import numpy as np

VOCAB = ("the", "a", "cat", "dog", "happy", "small", "sees", "runs", ".")
TOKEN = {word: i for i, word in enumerate(VOCAB)}
END = "."
LENGTH = 12  # the length limit of an output
CONTEXT = 2  # tokens the policy observes
START = "<s>"  # the context before the first token

DETERMINERS, ADJECTIVES, NOUNS = ("the", "a"), ("happy", "small"), ("cat", "dog")


def noun_phrases() -> list[tuple[str, ...]]:
    """Every det [adj] noun."""
    adjectives = [(), *((a,) for a in ADJECTIVES)]
    return [(d, *a, n) for d, a, n in itertools.product(DETERMINERS, adjectives, NOUNS)]


def all_sentences() -> set[tuple[str, ...]]:
    """The grammar's whole language (156 sentences)."""
    phrases = noun_phrases()
    intransitive = {(*s, "runs", END) for s in phrases}
    transitive = {(*s, "sees", *o, END) for s, o in itertools.product(phrases, phrases)}
    return intransitive | transitive


SENTENCES = all_sentences()
ALLOWED = {pair for s in SENTENCES for pair in zip((START, *s[:-1]), s, strict=True)}


def is_sentence(words: list[str]) -> bool:
    return tuple(words) in SENTENCES


def token_score(context: list[str], word: str) -> float:
    """The labeler's score for writing `word` after `context` (the words so far)."""
    before = [START, START, *context][-2:]
    score = 0.0
    if before[0] in DETERMINERS and before[1] == "happy" and word in NOUNS:
        score += 1.0  # "happy" was an adjective
    if (before[1], word) not in ALLOWED:
        score -= 1.0
    if len(context) + 1 == LENGTH and word != END:
        score -= 1.0  # cut at the limit: no sentence
    return score


def true_score(words: list[str]) -> float:
    """The labeler's score of a whole output: the sum of its tokens' scores."""
    return sum(token_score(words[:t], w) for t, w in enumerate(words))


def sentence(rng: np.random.Generator) -> list[str]:
    """A corpus sentence: an adjective in 30% of noun phrases, "sees" or "runs" alike."""

    def noun_phrase() -> list[str]:
        adjective = [str(rng.choice(ADJECTIVES))] if rng.random() < 0.3 else []
        return [str(rng.choice(DETERMINERS)), *adjective, str(rng.choice(NOUNS))]

    verb = str(rng.choice(("sees", "runs")))
    obj = noun_phrase() if verb == "sees" else []
    return [*noun_phrase(), verb, *obj, END]


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
        word = VOCAB[int(action)]
        reward = token_score([VOCAB[t] for t in self.tokens], word)
        self.tokens.append(int(action))
        # the output ends at its end token or at the limit: both are the end of the text (terminated)
        done = word == END or len(self.tokens) >= LENGTH
        return observation(self.tokens), reward, done, False, {}


def corpus_dataset(texts: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The corpus as bc's demonstrations: obs and actions of `texts` sentences."""
    rng = np.random.default_rng(seed)
    obs, actions = [], []
    for _ in range(texts):
        tokens: list[int] = []
        for word in sentence(rng):
            obs.append(observation(tokens))
            actions.append(TOKEN[word])
            tokens.append(TOKEN[word])
    return {"obs": np.stack(obs), "actions": np.array(actions, np.int64)}


if "rlrun/Tokens-v0" not in gym.registry:
    gym.register("rlrun/Tokens-v0", entry_point=TokensEnv)
