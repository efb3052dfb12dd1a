"""The RLHF case study on token sequences (rlrun/rewards/sequence.py): bc on a grammar's corpus,
then ppo on the labeler's rule with a KL penalty to the bc policy, for several beta; a table of the
rule's reward, the grammaticality and the KL of the texts each policy writes.

    python scripts/rlhf_sequence.py [--out runs/sequence] [--steps 60000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from rlrun.checkpoint import load_checkpoint
from rlrun.nets import ActorCritic
from rlrun.rewards.sequence import VOCAB, TokensEnv, allowed_bigrams, corpus_dataset, grammatical, observation

ENV = ["env=gym", "env.id=rlrun.rewards.sequence:rlrun/Tokens-v0", "eval.every=0", "progress=false"]


def rlrun(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "rlrun", "train", *ENV, *args], check=True, capture_output=True)


def load_policy(run_dir: Path) -> ActorCritic:
    env = TokensEnv()
    agent = ActorCritic(env.observation_space, env.action_space, [64, 64])
    agent.load_state_dict(load_checkpoint(run_dir)["algo"]["agent"])
    return agent.eval()


@torch.no_grad()
def write(agent: ActorCritic, reference: ActorCritic, texts: int) -> tuple[list[list[str]], float]:
    """Sampled texts, and the mean over them of sum_t log pi - log pi_ref (the sequence KL)."""
    out, kl = [], 0.0
    for _ in range(texts):
        tokens: list[int] = []
        for _ in range(12):
            obs = torch.as_tensor(observation(tokens))[None]
            logp, logp_ref = agent.dist(obs).logits[0], reference.dist(obs).logits[0]
            token = int(torch.distributions.Categorical(logits=logp).sample())
            kl += float(logp.log_softmax(-1)[token] - logp_ref.log_softmax(-1)[token])
            tokens.append(token)
        out.append([VOCAB[t] for t in tokens])
    return out, kl / texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/sequence")
    parser.add_argument("--steps", type=int, default=60000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    np.savez(out / "corpus.npz", **corpus_dataset(2000, seed=args.seed))
    bc = out / "bc"
    rlrun("algo=bc", f"algo.dataset={out / 'corpus.npz'}", "total_steps=480000", f"hydra.run.dir={bc}")
    reference, allowed = load_policy(bc), allowed_bigrams()
    print("| beta | happy per text (rule reward) | grammatical bigrams | KL to bc per text | example |")
    print("| --- | --- | --- | --- | --- |")
    for beta in ("bc", 0.0, 0.01, 0.1, 1.0):
        run_dir = bc if beta == "bc" else out / f"beta_{beta}"
        if beta != "bc":
            rlrun(
                f"algo.reference={bc}", f"algo.kl_coef={beta}", f"total_steps={args.steps}",
                f"seed={args.seed}", f"hydra.run.dir={run_dir}",
            )  # fmt: skip
        texts, kl = write(load_policy(run_dir), reference, 200)
        happy = np.mean([t.count("happy") for t in texts])
        grammar = np.mean([grammatical(t, allowed) for t in texts])
        row = {"beta": beta, "happy": happy, "grammatical": grammar, "kl": kl, "example": " ".join(texts[0])}
        (run_dir / "sequence.json").write_text(json.dumps(row))
        print(f"| {beta} | {happy:.2f} | {grammar:.2f} | {kl:.2f} | {row['example']} |", flush=True)


if __name__ == "__main__":
    main()
