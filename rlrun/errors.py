"""The ways a run ends early on purpose: a user mistake, a signal, a numerical fault."""

import math


class ConfigError(ValueError):
    """A user mistake in the config or on the command line: `key` names the offending key (or
    file), the message says what is allowed. The CLI prints it as one line."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


class Interrupted(Exception):
    """Raised after SIGINT/SIGTERM, once the run has saved its checkpoint and flushed its logs."""


class NumericalError(ArithmeticError):
    """A NaN or Inf in a loss, gradient or value: the run stops, its last good checkpoint stays."""


def check_finite(quantities: dict[str, float], where: str) -> None:
    """Raise NumericalError naming the first quantity that is NaN or Inf. Algorithms call this
    before each optimizer step, so a fault never reaches the parameters or a checkpoint."""
    for name, value in quantities.items():
        if not math.isfinite(value):
            raise NumericalError(
                f"{name} is {value} {where}; the last good checkpoint is kept; "
                "try a lower algo.lr or check the environment's rewards and observations"
            )
