"""A short real run: what lands in the run dir, TensorBoard read back with its own reader,
rlrun eval with a video, seeding, stop_return, multirun and the help texts."""

from pathlib import Path

import pytest
import torch
from conftest import rlrun, summary
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

SHORT = ["algo=ppo", "env=CartPole", "total_steps=2048", "eval.every=1024", "eval.episodes=3"]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("short")
    result = rlrun("train", *SHORT, "hydra.run.dir=run", cwd=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("rlrun: device cpu")
    return root / "run"


def test_run_dir_holds_config_events_checkpoint_and_summary(short_run):
    assert (short_run / ".hydra" / "config.yaml").is_file()
    assert (short_run / "checkpoint.pt").is_file()
    assert list((short_run / "tb").glob("events.out.tfevents.*"))
    result = summary(short_run)
    for key in (
        "algo",
        "env",
        "seed",
        "env_steps",
        "wall_s",
        "eval_return_mean",
        "eval_return_std",
        "eval_episodes",
    ):
        assert key in result
    assert result["algo"] == "ppo" and result["env"] == "CartPole-v1" and result["env_steps"] == 2048
    assert result["eval_episodes"] == 3


def test_tensorboard_scalars_use_environment_steps(short_run):
    events = EventAccumulator(str(short_run / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    expected = {
        "charts/episodic_return", "charts/episodic_length", "eval/return_mean", "eval/return_std",
        "losses/policy", "losses/value", "losses/entropy", "losses/approx_kl", "losses/clipfrac", "perf/sps",
    }  # fmt: skip
    assert expected <= tags
    # 8 iterations of N=256 transitions: the policy loss is logged at steps 256, 512, ..., 2048
    assert [e.step for e in events.Scalars("losses/policy")] == list(range(256, 2049, 256))
    assert [e.step for e in events.Scalars("eval/return_mean")] == [1024, 2048]
    assert events.Scalars("eval/return_mean")[-1].value == pytest.approx(
        summary(short_run)["eval_return_mean"]
    )


def test_hparams_are_in_the_runs_own_event_file(short_run):
    events = EventAccumulator(str(short_run / "tb"))
    events.Reload()
    plugin = events.PluginTagToContent("hparams")
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(plugin)
    from tensorboard.plugins.hparams import plugin_data_pb2

    start = plugin_data_pb2.HParamsPluginData.FromString(plugin["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["algo.lr"].number_value == pytest.approx(0.001)
    assert hparams["env.id"].string_value == "CartPole-v1"
    assert [p for p in (short_run / "tb").iterdir() if p.is_dir()] == [], "no sub-run folders"


def test_eval_plays_the_checkpoint_and_writes_a_video(short_run):
    result = rlrun("eval", str(short_run), "episodes=4", "video=true", cwd=short_run.parent)
    assert result.returncode == 0, result.stderr
    assert "over 4 episodes" in result.stdout
    videos = list((short_run / "videos").glob("*.mp4"))
    assert videos and videos[0].stat().st_size > 1000


def test_same_seed_gives_the_same_summary(short_run):
    again = short_run.parent / "again"
    result = rlrun("train", *SHORT, f"hydra.run.dir={again}", cwd=short_run.parent)
    assert result.returncode == 0, result.stderr
    first, second = summary(short_run), summary(again)
    for key in ("env_steps", "eval_return_mean", "eval_return_std", "best_eval_return_mean"):
        assert first[key] == second[key]


def test_stop_return_ends_training_at_the_threshold(workdir):
    result = rlrun(
        "train", "total_steps=50000", "eval.every=512", "eval.episodes=3", "stop_return=30",
        "hydra.run.dir=run", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    done = summary(workdir / "run")
    assert done["stopped_early"] and done["eval_return_mean"] >= 30 and done["env_steps"] < 50000
    events = EventAccumulator(str(workdir / "run" / "tb"))
    events.Reload()
    evals = events.Scalars("eval/return_mean")
    assert evals[-1].step == done["env_steps"]
    assert all(e.value < 30 for e in evals[:-1]), "it stops at the first evaluation that reaches 30"


def test_multirun_writes_one_run_dir_per_job(workdir):
    result = rlrun(
        "train", "-m", "seed=0,1", "total_steps=512", "eval.episodes=2", "device=cpu", "checkpoint.every=5",
        "hydra.sweep.dir=sweep", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # job dirs are named by their overrides, so TensorBoard's run list reads naturally; keys that
    # do not change the experiment (device, checkpoint interval) are left out
    for seed in (0, 1):
        job = workdir / "sweep" / f"eval.episodes=2,seed={seed},total_steps=512"
        assert summary(job)["seed"] == seed
    # a job dir's name holds '=', yet it is a run dir, not an option
    played = rlrun("eval", "sweep/eval.episodes=2,seed=0,total_steps=512", "episodes=2", cwd=workdir)
    assert played.returncode == 0 and "over 2 episodes" in played.stdout, played.stderr


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_multirun_with_hydra_launcher_plugins(launcher, workdir):
    extra = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else ["hydra.launcher.timeout_min=10"]
    result = rlrun(
        "train", "-m", f"hydra/launcher={launcher}", *extra, "seed=0,1", "total_steps=512",
        "eval.episodes=2", "hydra.sweep.dir=sweep", cwd=workdir, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    for seed in (0, 1):
        job = workdir / "sweep" / f"eval.episodes=2,seed={seed},total_steps=512"
        assert summary(job)["seed"] == seed and summary(job)["env_steps"] == 512


def test_multirun_with_a_failing_job_runs_the_others_and_exits_nonzero(workdir):
    result = rlrun(
        "train", "-m", "algo.lr=-1,0.001", "total_steps=512", "eval.episodes=2", "hydra.sweep.dir=sweep",
        cwd=workdir,
    )  # fmt: skip
    assert result.returncode != 0
    assert "algo.lr: must be > 0" in result.stderr
    assert (workdir / "sweep" / "algo.lr=0.001,eval.episodes=2,total_steps=512" / "summary.json").is_file()
    error = (workdir / "sweep" / "algo.lr=-1,eval.episodes=2,total_steps=512" / "error.txt").read_text()
    assert "algo.lr: must be > 0" in error, "a failed job keeps its error in its dir"


def test_a_sweep_run_again_skips_finished_jobs_and_resumes_unfinished_ones(workdir):
    sweep = ["train", "-m", "seed=0,1", "total_steps=1024", "eval.episodes=2", "hydra.sweep.dir=sweep"]
    assert rlrun(*sweep, cwd=workdir).returncode == 0
    done, unfinished = (workdir / "sweep" / f"eval.episodes=2,seed={s},total_steps=1024" for s in (0, 1))
    before = (done / "summary.json").read_text()
    (unfinished / "summary.json").unlink()  # as if it had been stopped after its last checkpoint

    again = rlrun(*sweep, cwd=workdir)
    assert again.returncode == 0, again.stderr
    assert f"already done: {done / 'summary.json'} holds 1024 steps" in again.stdout
    assert f"resumed from {unfinished / 'checkpoint.pt'} at step 1024" in again.stdout
    assert (done / "summary.json").read_text() == before
    assert summary(unfinished)["env_steps"] == 1024


def test_help_lists_commands_and_config_groups(workdir):
    top = rlrun("--help", cwd=workdir)
    assert top.returncode == 0 and "train" in top.stdout and "eval" in top.stdout
    train_help = rlrun("train", "--help", cwd=workdir)
    assert train_help.returncode == 0
    groups = {
        line.split(": ", 1)[0]: line.split(": ", 1)[1].split(", ")
        for line in train_help.stdout.splitlines()
        if line.startswith(("algo: ", "env: ", "device: "))
    }
    assert {"pg", "ac", "ppo", "fqi", "vi", "pi"} <= set(groups["algo"])
    assert groups["device"] == ["auto", "cpu", "cuda"]
    assert {"Acrobot", "CartPole", "MountainCar", "MountainCarContinuous", "Pendulum", "gym"} <= set(
        groups["env"]
    )
    assert {"FrozenLake", "FrozenLake8x8", "Taxi", "CliffWalking", "RandomMDP", "GridWorld"} <= set(
        groups["env"]
    )


def test_a_run_dir_of_another_env_or_a_broken_checkpoint_is_refused(short_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(short_run, copy)
    other = rlrun("train", "env=Acrobot", f"hydra.run.dir={copy}", cwd=tmp_path)
    assert other.returncode == 2
    assert other.stderr.strip().splitlines() == [
        f"rlrun: error: {copy / 'checkpoint.pt'}: holds a run of algo=ppo on CartPole-v1, not algo=ppo on "
        "Acrobot-v1; resume it with its own config or choose another run dir"
    ]
    data = (copy / "checkpoint.pt").read_bytes()
    other = rlrun("train", "algo=pg", f"hydra.run.dir={copy}", cwd=tmp_path)
    assert other.returncode == 2
    assert other.stderr.strip().splitlines() == [
        f"rlrun: error: {copy / 'checkpoint.pt'}: holds a run of algo=ppo on CartPole-v1, not algo=pg on "
        "CartPole-v1; resume it with its own config or choose another run dir"
    ]
    assert (copy / "checkpoint.pt").read_bytes() == data, "nothing overwritten"
    (copy / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    for args in (["eval", str(copy)], ["train", f"resume={copy}"]):
        result = rlrun(*args, cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            f"rlrun: error: {copy / 'checkpoint.pt'}: cannot be read: truncated, or not a torch checkpoint"
        ]
    assert (copy / "checkpoint.pt").read_bytes() == data[: len(data) // 2], "nothing overwritten"


@pytest.mark.parametrize("algo", ["ppo", "fqi"])
def test_the_best_evaluated_policy_is_kept_and_plays(algo, tmp_path):
    args = [f"algo={algo}", "env=CartPole", "total_steps=3072", "eval.every=1024", "eval.episodes=2"]
    if algo == "fqi":
        args += ["algo.learning_starts=256", "algo.N=256", "algo.hidden=[32]"]
    result = rlrun("train", *args, "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    done = summary(tmp_path / "run")
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert done["best_checkpoint"] == "best.pt"
    assert (best["env_steps"], best["eval_return_mean"]) == (
        done["best_eval_step"],
        done["best_eval_return_mean"],
    )
    for which, step in (("best", done["best_eval_step"]), ("last", done["env_steps"])):
        played = rlrun("eval", "run", f"checkpoint={which}", "episodes=2", cwd=tmp_path)
        assert played.returncode == 0, played.stderr
        assert f"{which} policy (step {step})" in played.stdout
