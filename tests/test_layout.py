"""The house: Hydra and OmegaConf only at the edge, small files and functions, and the yaml files
that document each config saying the same defaults as its dataclass."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rlrun.algos import registry
from rlrun.schema import TORCH_ENV_IDS, DeviceConfig, EnvConfig

ROOT = Path(__file__).parent.parent
SOURCES = sorted((ROOT / "rlrun").rglob("*.py"))
# the edge: the CLI, the Hydra task and glue, and the commands that read Hydra's config files
EDGE = {"cli", "train", "config", "play", "collect", "summarize", "plot", "tuned", "__main__"}


def test_the_library_below_the_edge_imports_neither_hydra_nor_omegaconf():
    core = [
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in SOURCES
        if path.stem not in EDGE
    ]
    code = "\n".join(
        [*(f"import {name}" for name in core), "from rlrun.algos import registry", "registry()"]
        + ["import sys", "print(sorted(m for m in sys.modules if m.split('.')[0] in ('hydra', 'omegaconf')))"]
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"{len(core)} modules loaded: {result.stdout}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_files_and_functions_stay_small(path):
    text = path.read_text()
    assert len(text.splitlines()) <= 500
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            assert length <= 60, f"{node.name} has {length} lines"


def yaml_values(path: Path) -> dict:
    values = yaml.safe_load(path.read_text())
    values.pop("defaults", None)
    return values


@pytest.mark.parametrize("name", sorted(registry()))
def test_each_algorithms_yaml_says_its_dataclass_defaults(name):
    config = registry()[name].config
    assert yaml_values(ROOT / "conf" / "algo" / f"{name}.yaml") == dataclasses.asdict(config())


def test_the_device_and_env_yamls_say_their_dataclass_defaults():
    for path in sorted((ROOT / "conf" / "device").glob("*.yaml")):
        values = yaml_values(path)
        assert set(values) == {f.name for f in dataclasses.fields(DeviceConfig)}, path.name
    robustness = {"obs_noise", "latency", "action_noise", "perturb", "adr"}  # torch-backend envs only
    defaults = dataclasses.asdict(EnvConfig())
    for path in sorted((ROOT / "conf" / "env").glob("*.yaml")):
        fields = {f.name for f in dataclasses.fields(EnvConfig)}
        values = yaml_values(path)
        if values.get("id") in TORCH_ENV_IDS:
            assert {k: values[k] for k in robustness} == {k: defaults[k] for k in robustness}, path.name
        else:
            fields -= robustness
        assert fields - {"randomize"} <= set(values) | {"id"}, path.name
