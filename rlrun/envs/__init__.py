"""Making environments. Only gymnasium for now; tabular models and tensor-native envs come later."""

from rlrun.envs.gym import check_spaces, make_env, make_vector_env, resolve_env_id

__all__ = ["check_spaces", "make_env", "make_vector_env", "resolve_env_id"]
