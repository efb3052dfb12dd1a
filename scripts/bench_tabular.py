"""Time rlrun's vi and pi against pymdptoolbox (hiive's fork) on the same models, in one run.

    pip install -e ".[bench]"
    python scripts/bench_tabular.py [--repeats 1] [--device cpu]

Models: RandomMDP with 2000 states x 8 actions (branching 3) and FrozenLake 8x8 (slippery), gamma
0.99. vi: both stop at a residual of about 1e-10 (rlrun: max|V_new - V| < 1e-10; mdptoolbox: the
span of V_new - V below epsilon (1 - gamma) / gamma, epsilon chosen to give 1e-10). pi: both with
exact evaluation (a linear solve), until the policy is stable. Times are the best of --repeats runs
of the solver alone (the model is built once, outside the timing); the table also gives the
iterations, the time per iteration and the largest difference between the two value tables.
"""

from __future__ import annotations

import argparse
import time
import warnings

import gymnasium as gym
import numpy as np
import scipy.sparse
import torch

import rlrun.envs  # noqa: F401  (registers rlrun/RandomMDP-v0)
from rlrun.algos.pi import PIConfig, PolicyIteration
from rlrun.algos.vi import ValueIteration, VIConfig
from rlrun.envs.tabular import tabular_model
from rlrun.schema import FrozenLakeEnvConfig, RandomMDPEnvConfig

GAMMA, TOL = 0.99, 1e-10
MODELS = {
    "FrozenLake 8x8": FrozenLakeEnvConfig(id="FrozenLake8x8-v1", map_name="8x8"),
    "RandomMDP 2000x8": RandomMDPEnvConfig(id="rlrun/RandomMDP-v0", states=2000, actions=8, branching=3),
}


def toolbox_model(env_cfg) -> tuple[list, np.ndarray]:
    """The env as pymdptoolbox wants it: P [A, S, S] (stochastic rows) and R [S, A]. Steps that end
    the episode go to their state, which toy-text makes absorbing with reward 0: the same values."""
    env = gym.make(env_cfg.id, **env_cfg.make_kwargs())
    u = env.unwrapped
    S, A = u.observation_space.n, u.action_space.n
    rows, cols, probs = [[] for _ in range(A)], [[] for _ in range(A)], [[] for _ in range(A)]
    R = np.zeros((S, A))
    for s, by_action in u.P.items():
        for a, outcomes in by_action.items():
            for p, nxt, r, _ in outcomes:
                rows[a].append(s)
                cols[a].append(int(nxt))
                probs[a].append(p)
                R[s, a] += p * r
    env.close()
    P = [scipy.sparse.csr_matrix((probs[a], (rows[a], cols[a])), shape=(S, S)) for a in range(A)]
    # dense arrays: pymdptoolbox's sparse path slices columns one by one (minutes for 2000 states)
    return np.stack([p.toarray() for p in P]), R


def best_of(repeats: int, fn) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def ours(cls, cfg, model):
    def solve():
        algo = cls(cfg, model, total_steps=10**9)
        while not algo.done:
            algo.iterate()
        return algo

    return solve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from hiive.mdptoolbox.mdp import PolicyIteration as TbPI
    from hiive.mdptoolbox.mdp import ValueIteration as TbVI

    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)  # as rlrun trains on the CPU (rlrun/device.py)
    header = (
        f"{'model':<18} {'algo':<4} {'rlrun it':>8} {'rlrun s':>9} {'ms/it':>7} "
        f"{'mdptb it':>8} {'mdptb s':>9} {'ms/it':>7} {'mdptb/rlrun':>11} {'max|dV|':>9}"
    )
    print(f"best of {args.repeats}, gamma {GAMMA}")
    print(header)
    print("-" * len(header), flush=True)
    for name, env_cfg in MODELS.items():
        model = tabular_model(env_cfg, device)
        P, R = toolbox_model(env_cfg)
        epsilon = TOL * GAMMA / (1 - GAMMA)

        def tb_vi(P=P, R=R, epsilon=epsilon):
            vi = TbVI(P, R, GAMMA, epsilon=epsilon, max_iter=10**6, skip_check=True)
            vi.run()
            return vi

        def tb_pi(P=P, R=R):
            pi = TbPI(P, R, GAMMA, eval_type=0, max_iter=1000, skip_check=True)  # may cycle on ties
            pi.run()
            return pi

        for algo, mine, theirs in [
            ("vi", ours(ValueIteration, VIConfig(gamma=GAMMA, tol=TOL), model), tb_vi),
            ("pi", ours(PolicyIteration, PIConfig(gamma=GAMMA), model), tb_pi),
        ]:
            t_ours, a = best_of(args.repeats, mine)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_tb, b = best_of(args.repeats, theirs)
            diff = np.abs(a.V.cpu().numpy() - np.asarray(b.V)).max()
            it_a, it_b = a.iteration, b.iter
            print(
                f"{name:<18} {algo:<4} {it_a:>8} {t_ours:>9.4f} {1e3 * t_ours / it_a:>7.3f} "
                f"{it_b:>8} {t_tb:>9.4f} {1e3 * t_tb / it_b:>7.3f} {t_tb / t_ours:>11.2f} {diff:>9.1e}",
                flush=True,
            )
    print(f"device {device}, torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
