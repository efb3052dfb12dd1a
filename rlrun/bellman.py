"""Bellman backups on a tabular model, batched over all states at once (vi, pi, and later fqi).

P is the model's [S * A, S] matrix (row s * A + a = P[s, a, :], sparse CSR or dense; the mass
missing from a row is the probability that the episode ends), R is [S, A], V is [S]. A policy is
deterministic, [S] actions, or stochastic, [S, A] probabilities pi(a|s).

    q_values(P, R, V, gamma)        Q(s, a) = R(s, a) + gamma sum_s' P(s'|s, a) V(s')
    greedy(Q)                       V(s) = max_a Q(s, a) and the argmax, keeping `keep`'s action on ties
    policy_matrix(P, policy)        P_pi [S, S], row s = P[s, pi(s), :] (or sum_a pi(a|s) P[s, a, :])
    evaluate_policy(P, R, policy, gamma, sweeps)
                                    V^pi: the linear solve of (I - gamma P_pi) V = R_pi (sweeps=0),
                                    or `sweeps` backups V <- R_pi + gamma P_pi V from V0
    discounted_visitation(P, start, policy, gamma)
                                    d(s) ~ sum_t gamma^t Pr(s_t = s) from the start distribution
    expected_episode_return(...)    the undiscounted return within a time limit (state distributions)
    improper_states(P, A)           states from which some policy never ends its episode (gamma = 1 is unsafe)
"""

from __future__ import annotations

import torch

DENSE_SOLVE_UP_TO = 5000  # states: a dense LU solve on the device; above: a sparse solve (scipy, CPU)


def expected_next(P: torch.Tensor, V: torch.Tensor, num_actions: int) -> torch.Tensor:
    """E[V(s') | s, a] = sum_s' P(s'|s, a) V(s') as [S, A]."""
    return (P @ V).view(-1, num_actions)


def q_values(P: torch.Tensor, R: torch.Tensor, V: torch.Tensor, gamma: float) -> torch.Tensor:
    """Q(s, a) = R(s, a) + gamma E[V(s')]: one backup, all states and actions at once."""
    return torch.addmv(R.reshape(-1), P, V, alpha=gamma).view_as(R)  # R + gamma P V, fused


def greedy(
    Q: torch.Tensor, keep: torch.Tensor | None = None, tie: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """max_a Q(s, a) and an argmax; where `keep`'s action is within `tie` of the max, keep it (so
    policy iteration stops instead of switching between equally good actions)."""
    V, policy = Q.max(dim=1)
    if keep is not None:
        kept = Q.gather(1, keep.unsqueeze(1)).squeeze(1)
        policy = torch.where(kept >= V - tie, keep, policy)
    return V, policy


def bellman_residual(P: torch.Tensor, R: torch.Tensor, V: torch.Tensor, gamma: float) -> float:
    """max_s |max_a Q(s, a) - V(s)|: zero exactly at V*."""
    return (q_values(P, R, V, gamma).max(dim=1).values - V).abs().max().item()


def policy_matrix(P: torch.Tensor, policy: torch.Tensor) -> torch.Tensor:
    """P_pi [S, S]: row s is P[s, pi(s), :], or sum_a pi(a|s) P[s, a, :] for a stochastic policy
    (sparse CSR if P is sparse)."""
    S = policy.shape[0]
    A = P.shape[0] // S
    states = torch.arange(S, device=policy.device)
    if policy.dim() == 1 and P.layout == torch.strided:
        return P[states * A + policy]
    if policy.dim() == 2 and P.layout == torch.strided:
        return torch.einsum("sa,sat->st", policy.to(P.dtype), P.view(S, A, P.shape[1]))
    # sparse: P_pi = W P with W [S, S * A] holding pi(a|s) at (s, s * A + a)
    if policy.dim() == 1:
        rows, cols, weights = states, states * A + policy, torch.ones(S, dtype=P.dtype, device=P.device)
    else:
        rows, cols = states.repeat_interleave(A), torch.arange(S * A, device=policy.device)
        weights = policy.reshape(-1).to(P.dtype)
    # indices built here are valid by construction: opting out of the check also keeps torch quiet
    select = torch.sparse_coo_tensor(
        torch.stack([rows, cols]), weights, (S, P.shape[0]), check_invariants=False
    ).to_sparse_csr()
    return select @ P


def policy_reward(R: torch.Tensor, policy: torch.Tensor) -> torch.Tensor:
    """R_pi [S]: R[s, pi(s)], or sum_a pi(a|s) R[s, a]."""
    if policy.dim() == 2:
        return (R * policy.to(R.dtype)).sum(dim=1)
    return R.gather(1, policy.unsqueeze(1)).squeeze(1)


def evaluate_policy(
    P: torch.Tensor,
    R: torch.Tensor,
    policy: torch.Tensor,
    gamma: float,
    sweeps: int = 0,
    V0: torch.Tensor | None = None,
) -> torch.Tensor:
    """V^pi. sweeps=0: exact, solving (I - gamma P_pi) V = R_pi; sweeps > 0: that many backups
    V <- R_pi + gamma P_pi V from V0 (modified policy iteration's partial evaluation)."""
    R_pi = policy_reward(R, policy)
    P_pi = policy_matrix(P, policy)
    if sweeps > 0:
        V = torch.zeros_like(R_pi) if V0 is None else V0
        for _ in range(sweeps):
            V = R_pi + gamma * (P_pi @ V)
        return V
    return solve_policy_system(P_pi, R_pi, gamma)


def discounted_visitation(
    P: torch.Tensor, start: torch.Tensor, policy: torch.Tensor, gamma: float
) -> torch.Tensor:
    """The policy's discounted state distribution from `start`: d(s) proportional to
    sum_t gamma^t Pr(s_t = s), i.e. d^T (I - gamma P_pi) = start^T, normalised to sum to 1 (mass
    that ends an episode drops out, so the plain solution sums to less than 1 / (1 - gamma))."""
    d = solve_policy_system(policy_matrix(P, policy), start, gamma, transpose=True)
    return d / d.sum()


def solve_policy_system(
    P_pi: torch.Tensor, b: torch.Tensor, gamma: float, transpose: bool = False
) -> torch.Tensor:
    """x with (I - gamma P_pi) x = b (or its transpose): dense LU on the device for small models,
    else a sparse solve."""
    S = b.shape[0]
    if S <= DENSE_SOLVE_UP_TO:
        P_pi = P_pi.to_dense() if P_pi.layout != torch.strided else P_pi
        A = torch.eye(S, dtype=b.dtype, device=b.device) - gamma * P_pi
        return torch.linalg.solve(A.T if transpose else A, b)
    return sparse_solve(P_pi, b, gamma, transpose)


def sparse_solve(P_pi: torch.Tensor, b: torch.Tensor, gamma: float, transpose: bool = False) -> torch.Tensor:
    """(I - gamma P_pi) x = b (or its transpose) by scipy's sparse LU (on the CPU), for models too
    big for a dense solve."""
    import scipy.sparse
    import scipy.sparse.linalg

    S = b.shape[0]
    P_pi = P_pi.to_sparse_csr().cpu()
    matrix = scipy.sparse.csr_matrix(
        (P_pi.values().numpy(), P_pi.col_indices().numpy(), P_pi.crow_indices().numpy()), shape=(S, S)
    )
    A = scipy.sparse.identity(S, format="csc") - gamma * matrix
    x = scipy.sparse.linalg.spsolve((A.T if transpose else A).tocsc(), b.cpu().numpy())
    return torch.as_tensor(x, dtype=b.dtype, device=b.device)


def expected_episode_return(
    P: torch.Tensor, R: torch.Tensor, start: torch.Tensor, policy: torch.Tensor, horizon: int
) -> float:
    """The undiscounted return of the policy over `horizon` steps from the start distribution:
    sum_t d_t . R_pi with d_{t+1} = d_t P_pi (mass that ends an episode drops out of d)."""
    P_pi = policy_matrix(P, policy)
    P_pi_T = P_pi.t() if P_pi.layout == torch.strided else P_pi.to_sparse_coo().t().to_sparse_csr()
    R_pi = policy_reward(R, policy)
    d, total = start, 0.0
    for _ in range(horizon):
        total += torch.dot(d, R_pi).item()
        d = P_pi_T @ d
    return total


def improper_states(P: torch.Tensor, num_actions: int) -> torch.Tensor:
    """[S] bool: states from which some policy can go on forever without the episode ending (a
    set of states each with an action that never ends the episode and never leaves the set).
    With gamma = 1 their values may be unbounded, and I - P_pi may be singular."""
    S = P.shape[1]
    ones = torch.ones(S, dtype=P.dtype, device=P.device)
    never_ends = expected_next(P, ones, num_actions) >= 1 - 1e-12  # [S, A]
    inside = never_ends.any(dim=1)
    while True:
        leaks = expected_next(P, (~inside).to(P.dtype), num_actions) > 0
        still = inside & (never_ends & ~leaks).any(dim=1)
        if torch.equal(still, inside):
            return inside
        inside = still
