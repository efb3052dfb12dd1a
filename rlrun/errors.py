"""The two ways a run ends early on purpose: a user mistake, or a signal."""


class ConfigError(ValueError):
    """A user mistake in the config or on the command line: `key` names the offending key (or
    file), the message says what is allowed. The CLI prints it as one line."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


class Interrupted(Exception):
    """Raised after SIGINT/SIGTERM, once the run has saved its checkpoint and flushed its logs."""
