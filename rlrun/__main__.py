from rlrun.cli import entry

entry()
