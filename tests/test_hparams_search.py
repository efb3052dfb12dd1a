"""Optuna through Hydra's sweeper plugin: rlrun train returns the final evaluation mean, which the
search maximises; a trial that fails is marked failed and the search goes on."""

from conftest import rlrun, summary
from omegaconf import OmegaConf


def test_optuna_search_tolerates_a_failed_trial_and_reports_the_best(workdir):
    result = rlrun(
        "train", "-m", "hparams_search=ppo_CartPole",
        # the shipped search space replaced by one where lr=-1 trials fail their config check
        "hydra.sweeper.params=null", "algo.lr=choice(0.001,-1)",
        "hydra/sweeper/sampler=random", "hydra.sweeper.n_trials=4",
        "total_steps=512", "eval.episodes=2", "hydra.sweep.dir=search", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Failed experiment: algo.lr: must be > 0, got -1.0" in result.stdout + result.stderr
    sweep = workdir / "search"
    failed = (sweep / "algo.lr=-1,eval.episodes=2,total_steps=512" / "error.txt").read_text()
    assert failed.splitlines()[0] == "algo.lr: must be > 0, got -1.0"
    best = OmegaConf.load(sweep / "optimization_results.yaml")
    assert best.best_params == {"algo.lr": 0.001}
    done = summary(sweep / "algo.lr=0.001,eval.episodes=2,total_steps=512")
    assert best.best_value == done["eval_return_mean"]
