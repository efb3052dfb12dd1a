"""The ways a run ends early on purpose: a user mistake, a signal, a numerical fault (stdlib only:
how Hydra's and OmegaConf's errors read as one line is in rlrun.config, at the edge)."""

import math
from typing import Any


class ConfigError(ValueError):
    """A user mistake in the config or on the command line: `key` names the offending key (or
    file), the message says what is allowed. The CLI prints it as one line."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


class Interrupted(KeyboardInterrupt):
    """Raised after SIGINT/SIGTERM, once the run has saved its checkpoint and flushed its logs. Not
    an Exception, so Hydra's launchers do not count it as a failed job and go on to the next one:
    a signal stops the whole sweep."""


class NumericalError(ArithmeticError):
    """A NaN or Inf in a loss, gradient or value: the run stops, its last good checkpoint stays."""


def check_finite(quantities: dict[str, float], where: str) -> None:
    """Raise NumericalError naming the first quantity that is NaN or Inf. Algorithms call this
    before the iteration ends, so a fault never reaches a checkpoint."""
    for name, value in quantities.items():
        if not math.isfinite(value):
            raise NumericalError(
                f"{name} is {value} {where}; the last good checkpoint is kept; "
                "try a lower algo.lr or check the environment's rewards and observations"
            )


def check_finite_rows(rows: list[Any], names: list[str], where: str) -> Any:
    """check_finite over the rows of per-step statistics (a list of tensors, one per update step,
    one column per name), naming the first faulty step; return the rows stacked. One host sync."""
    import torch  # errors.py is imported before torch on the config-checking path

    stacked = torch.stack(rows)
    if not bool(torch.isfinite(stacked).all()):
        for index, row in enumerate(stacked.tolist()):
            step = f"{where}, update step {index + 1} of {len(rows)}"
            check_finite(dict(zip(names, row, strict=True)), step)
    return stacked


def first_line(err: BaseException) -> str:
    """The message's first line; where it only introduces the reason ('... while composing config:'),
    the reason's line too."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        return f"{lines[0]} {lines[1]}"
    return lines[0] if lines else type(err).__name__
