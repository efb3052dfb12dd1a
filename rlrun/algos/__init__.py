"""One file per algorithm; each reads like the lecture's pseudocode and ends with its `SPEC` (its
config class, its checks, its builder). The registry is every module here that defines one: adding
an algorithm is one module here plus one yaml in conf/algo."""

from __future__ import annotations

import functools
import importlib
import pkgutil

from rlrun.schema import AlgoSpec


@functools.cache
def registry() -> dict[str, AlgoSpec]:
    """The algorithms by name, in module order."""
    specs = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, AlgoSpec):
            specs[spec.name] = spec
    return specs
