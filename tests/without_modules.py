"""Run the rlrun CLI as if some packages were not installed, without uninstalling them:
`python -m without_modules MOD[,MOD...] ARGS...`. Each MOD is None in sys.modules, so importing it
(or a submodule) raises ModuleNotFoundError and importlib.util.find_spec finds nothing; Hydra's
plugin scan skips them, so a hidden launcher's or sweeper's options are never registered."""

import pkgutil
import sys

HIDDEN = [name for name in sys.argv[1].split(",") if name]


def hidden(name: str) -> bool:
    return any(name == h or name.startswith(h + ".") for h in HIDDEN)


for name in HIDDEN:
    sys.modules[name] = None
walk_packages = pkgutil.walk_packages
pkgutil.walk_packages = lambda *a, **k: (m for m in walk_packages(*a, **k) if not hidden(m.name))

from rlrun.cli import main  # noqa: E402

sys.exit(main(sys.argv[2:]))
