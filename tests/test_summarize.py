"""rlrun summarize: the statistics by hand, and a real sweep summarised."""

import csv

import pytest
from conftest import rlrun

from rlrun.stats import bootstrap_ci, interquartile_mean


def test_interquartile_mean_drops_a_quarter_at_each_end():
    assert interquartile_mean([1, 2, 3, 4]) == 2.5  # keeps 2, 3
    assert interquartile_mean([100, 1, 2, 3, 4]) == 3.0  # cuts int(5/4) = 1 each end: 2, 3, 4
    assert interquartile_mean([7]) == 7.0


def test_bootstrap_interval_of_the_mean():
    assert bootstrap_ci([5.0, 5.0, 5.0]) == (5.0, 5.0)
    low, high = bootstrap_ci([0.0, 10.0])
    # resampled means of two values are 0, 5 or 10 with probabilities 1/4, 1/2, 1/4
    assert (low, high) == (0.0, 10.0)
    assert bootstrap_ci([1.0, 2.0, 3.0, 4.0]) == bootstrap_ci([1.0, 2.0, 3.0, 4.0])


def test_summarize_a_sweep_with_a_failed_and_an_unfinished_job(workdir):
    result = rlrun(
        "train", "-m", "algo.lr=-1,0.001", "seed=0,1", "total_steps=512", "eval.episodes=2",
        "hydra.sweep.dir=sweep", cwd=workdir,
    )  # fmt: skip
    assert result.returncode != 0  # the lr=-1 jobs fail; the others run
    unfinished = workdir / "sweep" / "algo.lr=0.001,eval.episodes=2,seed=1,total_steps=512"
    (unfinished / "summary.json").unlink()

    out = rlrun("summarize", str(workdir / "sweep"), cwd=workdir)
    assert out.returncode == 0, out.stderr
    with open(workdir / "sweep" / "summary_jobs.csv") as f:
        jobs = {row["overrides"]: row for row in csv.DictReader(f)}
    assert len(jobs) == 4
    failed = jobs["algo.lr=-1,seed=0,total_steps=512,eval.episodes=2"]
    assert failed["status"] == "failed" and failed["error"] == "algo.lr: must be > 0, got -1.0"
    assert jobs["algo.lr=0.001,seed=1,total_steps=512,eval.episodes=2"]["status"] == "unfinished"
    done = jobs["algo.lr=0.001,seed=0,total_steps=512,eval.episodes=2"]
    assert done["status"] == "done" and done["env_steps"] == "512"
    with open(workdir / "sweep" / "summary_configs.csv") as f:
        (config,) = list(csv.DictReader(f))
    assert config["config"] == "algo.lr=0.001,total_steps=512,eval.episodes=2" and config["seeds"] == "1"
    assert float(config["mean"]) == pytest.approx(float(done["eval_return_mean"]))
    assert "unfinished" in out.stdout and "failed" in out.stdout
    assert "algo.lr: must be > 0, got -1.0" in out.stdout


def test_summarize_a_folder_without_runs(workdir):
    out = rlrun("summarize", str(workdir), cwd=workdir)
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        == f"rlrun: error: DIR: {workdir} holds no run dirs (folders with .hydra/config.yaml)"
    )
