"""Making environments: gymnasium (vectorized), and the generated tabular MDPs registered as
gymnasium envs (rlrun/RandomMDP-v0, rlrun/GridWorld-v0). Tabular models (P, R tensors) are in
rlrun.envs.tabular, imported where needed (it needs torch)."""

from rlrun.envs.generated import register_envs
from rlrun.envs.gym import check_spaces, make_env, make_vector_env, resolve_env_id

register_envs()

__all__ = ["check_spaces", "make_env", "make_vector_env", "resolve_env_id"]
