"""A run with reward normalisation on the gymnasium backend (numpy statistics) leaves a checkpoint
that loads with weights_only=True: `rlrun eval` plays it."""

from conftest import rlrun


def test_gymnasium_reward_normalisation_checkpoint_can_be_evaluated(workdir):
    run = ["train", "algo=ppo", "env=MountainCar", "algo.normalize_reward=true", "total_steps=512",
           "algo.N=256", "algo.S=4", "eval.episodes=2", "hydra.run.dir=run"]  # fmt: skip
    result = rlrun(*run, cwd=workdir)
    assert result.returncode == 0, result.stderr
    played = rlrun("eval", str(workdir / "run"), "episodes=2", "device=cpu", cwd=workdir)
    assert played.returncode == 0, played.stderr
    assert "over 2 episodes" in played.stdout
