"""The RLHF case study on token sequences (rlrun/rewards/sequence.py), every step through the CLI:

1. bc on a grammar's corpus: the "pretrained" policy pi_ref;
2. reward=preferences started from it with reward.initial=1: the whole labelling budget is cut from
   the pretrained policy's first rollout, labelled by the synthetic labeler from the true score,
   and a reward model is fitted on it (the run's reward_model.pt);
3. ppo with reward=model on that reward model and the KL penalty to pi_ref, for each beta.

For each beta and seed: the labeler's true score, the learned reward's return, the KL to the
reference and the share of outputs that are sentences of the grammar, over texts sampled from the
final policy; then the mean over seeds.

    python scripts/rlhf_sequence.py [--out runs/sequence] [--steps 50000] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from rlrun.checkpoint import load_checkpoint
from rlrun.nets import ActorCritic
from rlrun.rewards.build import load_reward_model
from rlrun.rewards.model import RewardModel
from rlrun.rewards.sequence import (
    END,
    LENGTH,
    VOCAB,
    TokensEnv,
    corpus_dataset,
    is_sentence,
    observation,
    true_score,
)

ENV = ["env=gym", "env.id=rlrun.rewards.sequence:rlrun/Tokens-v0", "eval.every=0", "progress=false"]
BETAS = (0.0, 0.01, 0.1, 1.0)


def rlrun(*args: str) -> None:
    cmd = [sys.executable, "-m", "rlrun", "train", *ENV, *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")


def load_policy(run_dir: Path) -> ActorCritic:
    env = TokensEnv()
    agent = ActorCritic(env.observation_space, env.action_space, [64, 64])
    agent.load_state_dict(load_checkpoint(run_dir)["algo"]["agent"])
    return agent.eval()


@torch.no_grad()
def write(
    agent: ActorCritic, reference: ActorCritic, reward: RewardModel, texts: int, seed: int
) -> dict[str, object]:
    """Sample `texts` outputs; per output: the true score, the learned return (sum of r_psi), the
    KL to the reference (sum over its steps of KL(pi(.|s) || pi_ref(.|s)))."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(texts):
        tokens: list[int] = []
        learned, kl = 0.0, 0.0
        while not tokens or (VOCAB[tokens[-1]] != END and len(tokens) < LENGTH):
            obs = torch.as_tensor(observation(tokens))[None]
            logp = agent.dist(obs).logits[0].log_softmax(-1)
            logp_ref = reference.dist(obs).logits[0].log_softmax(-1)
            kl += float((logp.exp() * (logp - logp_ref)).sum())
            token = int(torch.multinomial(logp.exp(), 1, generator=generator))
            learned += float(reward(obs, torch.tensor([token])))
            tokens.append(token)
        words = [VOCAB[t] for t in tokens]
        rows.append((true_score(words), learned, kl, is_sentence(words), " ".join(words)))
    score, learned, kl, sentence, text = (np.array(c) for c in zip(*rows, strict=True))
    common, count = Counter(text.tolist()).most_common(1)[0]
    return {
        "true": float(score.mean()),
        "learned": float(learned.mean()),
        "kl": float(kl.mean()),
        "sentences": float(sentence.mean()),
        "common": f"{common} ({count / texts:.0%})",
    }


def pipeline(out: Path, seed: int, steps: int, comparisons: int, texts: int) -> list[dict[str, object]]:
    """bc, the reward model, ppo for each beta, for one seed; a row per policy."""
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "corpus.npz", **corpus_dataset(2000, seed=seed))
    bc, rm = out / "bc", out / "reward_model"
    rlrun("algo=bc", f"algo.dataset={out / 'corpus.npz'}", "total_steps=500000", f"seed={seed}",
          f"hydra.run.dir={bc}")  # fmt: skip
    # one ppo iteration of N steps from pi_ref: its rollout is what the labeler compares
    rlrun("algo=ppo", "reward=preferences", "reward.initial=1", f"reward.segment={LENGTH}",
          f"reward.comparisons={comparisons}", f"algo.reference={bc}", "algo.N=8192", "total_steps=8192",
          f"seed={seed}", f"hydra.run.dir={rm}")  # fmt: skip
    space = TokensEnv()
    reward = load_reward_model(str(rm), SimpleNamespace(
        single_observation_space=space.observation_space, single_action_space=space.action_space
    ), torch.device("cpu"))  # fmt: skip
    print(f"  seed {seed} reward model: {json.dumps(reward_model_stats(rm))}", flush=True)
    reference = load_policy(bc)
    rows = [{"beta": "bc", "seed": seed, **write(reference, reference, reward, texts, seed)}]
    for beta in BETAS:
        run_dir = out / f"beta_{beta}"
        start = time.time()
        rlrun("algo=ppo", "reward=model", f"reward.model={rm}", f"algo.reference={bc}",
              f"algo.kl_coef={beta}", f"total_steps={steps}", f"seed={seed}",
              f"hydra.run.dir={run_dir}")  # fmt: skip
        wall = time.time() - start
        row = {"beta": beta, "seed": seed, "wall_s": wall}
        row |= write(load_policy(run_dir), reference, reward, texts, seed)
        (run_dir / "sequence.json").write_text(json.dumps(row))
        rows.append(row)
        print(f"  seed {seed} beta {beta}: {json.dumps(row)}", flush=True)
    return rows


KEYS = ("true", "learned", "kl", "sentences")
HEAD = "| beta | true score | learned return | KL to bc per text | sentences |"


def line(beta: object, values: dict[str, float], text: str) -> str:
    numbers = " | ".join(f"{values[k]:.2f}" for k in KEYS)
    return f"| {beta} | {numbers} | {text} |"


def tables(rows: list[dict[str, object]]) -> None:
    """Per seed, then the mean over seeds (with each seed's true score)."""
    print(f"\n{HEAD[:-1]}| seed | the commonest text (share) |\n|{' --- |' * 7}")
    for row in sorted(rows, key=lambda r: (BETAS.index(r["beta"]) if r["beta"] != "bc" else -1, r["seed"])):
        print(line(row["beta"], row, f"{row['seed']} | {row['common']}"))
    print(f"\n{HEAD} true score per seed |\n|{' --- |' * 6}")
    for beta in ("bc", *BETAS):
        mine = [r for r in rows if r["beta"] == beta]
        mean = {k: float(np.mean([r[k] for r in mine])) for k in KEYS}
        print(line(beta, mean, ", ".join(f"{r['true']:.2f}" for r in mine)))


def reward_model_stats(rm: Path) -> dict[str, float]:
    """The labels' preferences (not ties) and the reward model's held-out accuracy."""
    from rlrun.plot import read_scalars

    with np.load(rm / "labels.npz") as labels:
        preferred = int((labels["label"] != 0.5).sum())
    accuracy = read_scalars(rm, "rlhf/rm_accuracy")
    return {"preferred": preferred, "rm_accuracy": float(accuracy[1][-1]) if accuracy else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/sequence")
    parser.add_argument("--steps", type=int, default=50000)
    parser.add_argument("--comparisons", type=int, default=1000)
    parser.add_argument("--texts", type=int, default=500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        rows += pipeline(Path(args.out) / f"seed_{seed}", seed, args.steps, args.comparisons, args.texts)
    (Path(args.out) / "rows.json").write_text(json.dumps(rows))
    tables(rows)


if __name__ == "__main__":
    main()
