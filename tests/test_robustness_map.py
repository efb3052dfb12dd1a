"""rlrun eval RUN_DIR... grid.NAME=A:B:N: every cell x episodes in one batched env with per-env fixed
parameters; robustness.csv, robustness.png and a table of ADR entropy, grid return, solved share and
nominal return."""

from __future__ import annotations

import csv

import pytest
import torch
from conftest import assert_one_line_error, rlrun

from rlrun.errors import ConfigError
from rlrun.robustness_map import Grid, Policy, grid_envs
from rlrun.schema import EnvConfig

TRAIN = ["train", "algo=ppo", "env=CartPole", "env.backend=torch", "env.num_envs=16", "algo.N=512",
         "total_steps=2048", "eval.every=0", "eval.episodes=2", "progress=false"]  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("maps")
    plain = rlrun(*TRAIN, "hydra.run.dir=plain", cwd=root)
    adr = rlrun(*TRAIN, "env.adr.params=[length]", "env.adr.t_low=5", "env.adr.t_high=10", "env.adr.buffer=2",
                "env.obs_noise.correlated=0.01", "hydra.run.dir=adr", cwd=root)  # fmt: skip
    assert plain.returncode == 0 and adr.returncode == 0, plain.stderr + adr.stderr
    return root


def test_the_grid_is_linspace_per_name_and_cells_are_their_product():
    grid = Grid.parse({"length": "0.25:2.5:10", "force_mag": "5:20:4"})
    assert (
        grid.axes["length"][0] == 0.25 and grid.axes["length"][-1] == 2.5 and len(grid.axes["length"]) == 10
    )
    assert grid.axes["force_mag"] == [5.0, 10.0, 15.0, 20.0]
    assert len(grid.cells()) == 40 and grid.cells()[1] == (0.25, 10.0)
    for bad in ({"length": "1:2"}, {"length": "a:2:3"}, {"length": "1:2:0"}):
        with pytest.raises(ConfigError) as err:
            Grid.parse(bad)
        assert err.value.key == "grid.length"


def test_each_env_of_the_batch_plays_its_cells_parameters():
    env = EnvConfig(
        id="CartPole-v1", backend="torch", randomize={"length": [0.4, 0.6]}, kwargs={"gravity": 9.0}
    )
    run = Policy("r", env, None, None, 0)
    grid = Grid.parse({"length": "1:2:2", "gravity": "5:15:3"})
    envs, obs = grid_envs(run, grid, 2, torch.device("cpu"))
    assert obs.shape == (14, 4)
    expected_length = [1.0] * 6 + [2.0] * 6 + [0.5] * 2  # 6 cells x 2 episodes, then nominal
    expected_gravity = [5.0, 5.0, 10.0, 10.0, 15.0, 15.0] * 2 + [9.0, 9.0]  # nominal: the run's kwargs
    assert envs.params["length"].tolist() == pytest.approx(expected_length)
    assert envs.params["gravity"].tolist() == pytest.approx(expected_gravity)
    assert (envs.params["masspole"] == 0.1).all(), "parameters off the grid at their nominal value"


def test_maps_of_several_runs_write_csv_png_and_a_table(runs):
    result = rlrun("eval", "plain", "adr", "grid.length=0.25:2.5:3", "grid.force_mag=5:20:2", "out=maps",
                   "episodes=2", "device=cpu", "env.obs_noise.correlated=0", cwd=runs)  # fmt: skip
    assert result.returncode == 0, result.stderr
    with open(runs / "maps" / "robustness.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 2 * 6 and set(rows[0]) == {"run", "length", "force_mag", "return_mean"}
    assert [r["run"] for r in rows[:6]] == ["plain"] * 6 and rows[1]["force_mag"] == "20"
    assert (runs / "maps" / "robustness.png").stat().st_size > 1000
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("run "))
    assert lines[header].split() == ["run", "adr_entropy", "grid_return", "solved", "nominal"]
    plain, adr = lines[header + 1].split(), lines[header + 2].split()
    assert plain[0] == "plain" and plain[1] == "-" and adr[0] == "adr" and float(adr[1]) > -14
    assert "solved: return >= 475" in result.stdout, "CartPole's reward threshold by default"


def test_single_run_eval_still_works_and_grid_mistakes_are_one_line(runs):
    result = rlrun("eval", "plain", "episodes=2", "device=cpu", cwd=runs)
    assert result.returncode == 0 and "over 2 episodes" in result.stdout, result.stderr
    result = rlrun("eval", "plain", "grid.mass=1:2:3", "device=cpu", cwd=runs)
    assert_one_line_error(result, "grid.mass: CartPole-v1 has no parameter 'mass'", runs / "none")
    result = rlrun("eval", "plain", "grid.length=1:2:3", "solved=lots", "device=cpu", cwd=runs)
    assert_one_line_error(result, "solved: must be a number", runs / "none")
