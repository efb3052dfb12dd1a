"""Run the rlrun CLI as if some packages were not installed, without uninstalling them:
`python -m without_modules MOD[,MOD...] ARGS...`. Imports of each MOD (and its submodules) fail
with ModuleNotFoundError, and Hydra's plugin scan skips them, so a hidden launcher's or sweeper's
options are never registered."""

import importlib.abc
import pkgutil
import sys

HIDDEN = [name for name in sys.argv[1].split(",") if name]


def hidden(name: str) -> bool:
    return any(name == h or name.startswith(h + ".") for h in HIDDEN)


class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if hidden(name):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Hide())
walk_packages = pkgutil.walk_packages
pkgutil.walk_packages = lambda *a, **k: (m for m in walk_packages(*a, **k) if not hidden(m.name))

from rlrun.cli import main  # noqa: E402

sys.exit(main(sys.argv[2:]))
