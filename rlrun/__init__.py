"""rlrun: a command-line runner for classic reinforcement-learning algorithms."""

__version__ = "0.1.0"
