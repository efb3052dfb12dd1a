"""An env stack's state as plain data (tensors, numbers, strings, lists, dicts), for an exact resume
without pickling objects: nothing in a run dir is unpickled, so a checkpoint cannot run code.

`capture` walks the stack we built (wrappers, vector env, sub-envs, their spaces) and keeps every
attribute that is data: numbers, strings, numpy arrays and scalars, numpy random generators (as
their bit generator's state), and lists, tuples, dicts and deques of those. `restore` walks a
freshly built stack of the same config and sets those attributes back; objects are never made
from the saved data, only filled in. The torch-native envs and the tensor reward normaliser carry
their own `state_dict`; an Atari emulator (ale_py's ALEInterface) is kept as its serialised state.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
import torch

SKIP = object()  # not data: left out of the capture
PLAIN = (bool, int, float, str, type(None))
# attributes that are configuration or rendering, not state (and may hold code or huge objects)
IGNORED = frozenset({"spec", "metadata", "render_mode", "screen", "clock", "_cached_spec", "env_fns"})


def capture(obj: Any) -> Any:
    """The state of an env stack as plain data, or None when it cannot be captured (an async vector
    env lives in other processes, envpool's in C++)."""
    if isinstance(obj, gym.vector.AsyncVectorEnv) or isinstance(obj.unwrapped, gym.vector.AsyncVectorEnv):
        return None
    if not getattr(obj.unwrapped, "capturable", True):  # envpool's emulators live in C++
        return None
    return _capture(obj, set())


def _capture(obj: Any, seen: set[int]) -> Any:
    if isinstance(obj, np.generic):  # (before PLAIN: numpy's float64 is a float)
        return {"__numpy__": str(obj.dtype), "value": obj.item()} if obj.dtype.kind in "biuf" else SKIP
    if isinstance(obj, PLAIN):
        return obj
    if isinstance(obj, np.ndarray):
        return _array(obj)
    if isinstance(obj, np.random.Generator):
        return {"__generator__": obj.bit_generator.state}
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, list | tuple | deque):
        items = [_capture(item, seen) for item in obj]
        if any(item is SKIP for item in items):
            return SKIP
        kind = "deque" if isinstance(obj, deque) else type(obj).__name__
        return {"__sequence__": kind, "items": items, "maxlen": getattr(obj, "maxlen", None)}
    if isinstance(obj, dict):
        if not all(isinstance(key, str) for key in obj):
            return SKIP
        items = {key: _capture(value, seen) for key, value in obj.items()}
        return {"__dict__": {k: v for k, v in items.items() if v is not SKIP}}
    if type(obj).__name__ == "ALEInterface":  # an Atari emulator: its serialised state, RNG included
        data = np.frombuffer(obj.cloneState(include_rng=True).serialize(), dtype=np.uint8)
        return {"__ale__": torch.from_numpy(data.copy())}
    if getattr(obj, "is_tensor_env", False) and hasattr(type(obj), "state_dict"):
        return {"__state_dict__": obj.state_dict()}  # a torch-native env says what its state is
    if hasattr(obj, "__dict__") and not callable(obj):
        if id(obj) in seen:
            return SKIP
        seen.add(id(obj))
        fields = {}
        for name, value in vars(obj).items():
            if name in IGNORED:
                continue
            captured = _capture(value, seen)
            if captured is not SKIP:
                fields[name] = captured
        return {"__object__": type(obj).__name__, "fields": fields}
    return SKIP


def _array(array: np.ndarray) -> Any:
    if array.dtype.kind not in "biuf":
        return SKIP
    return {"__ndarray__": str(array.dtype), "data": torch.from_numpy(np.ascontiguousarray(array).copy())}


def restore(obj: Any, state: Any) -> None:
    """Fill the freshly built stack `obj` with a captured state (of a stack of the same config)."""
    if state is None:
        return
    if "__state_dict__" in state:
        obj.load_state_dict(state["__state_dict__"])
    else:
        _fill(obj, state)


def _fill(obj: Any, state: dict) -> None:
    if type(obj).__name__ != state["__object__"]:
        saved, here = state["__object__"], type(obj).__name__
        raise ValueError(f"the saved env stack holds a {saved} where this one has {here}")
    for name, saved in state["fields"].items():
        current = getattr(obj, name, None)
        if isinstance(saved, dict) and "__generator__" in saved and isinstance(current, np.random.Generator):
            current.bit_generator.state = saved["__generator__"]  # the same generator, shared or not
        else:
            value = _value(saved, current)
            if value is not current:
                setattr(obj, name, value)


def _value(saved: Any, current: Any) -> Any:
    """The object a captured leaf stands for (objects inside it are filled into `current`'s)."""
    if isinstance(saved, (*PLAIN, torch.Tensor)):
        return saved
    if "__ndarray__" in saved:
        return saved["data"].numpy().astype(saved["__ndarray__"], copy=True)
    if "__numpy__" in saved:
        return np.dtype(saved["__numpy__"]).type(saved["value"])
    if "__ale__" in saved:
        from ale_py import ALEState

        current.restoreState(ALEState(saved["__ale__"].numpy().tobytes()))
        return current
    if "__object__" in saved or "__state_dict__" in saved:
        restore(current, saved)
        return current
    if "__generator__" in saved:
        generator = np.random.default_rng()
        generator.bit_generator.state = saved["__generator__"]
        return generator
    if "__sequence__" in saved:
        olds = list(current) if isinstance(current, list | tuple | deque) else []
        items = []
        for index, item in enumerate(saved["items"]):
            old = olds[index] if index < len(olds) else None
            items.append(_value(item, old))
        kind = saved["__sequence__"]
        if kind == "deque":
            return deque(items, maxlen=saved["maxlen"])
        return tuple(items) if kind == "tuple" else items
    if "__dict__" in saved:
        olds = current if isinstance(current, dict) else {}
        return {key: _value(value, olds.get(key)) for key, value in saved["__dict__"].items()}
    raise ValueError(f"not a captured value: {sorted(saved)}")
