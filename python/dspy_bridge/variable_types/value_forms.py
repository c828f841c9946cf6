"""DSPex's value forms, converted on the client before a value is sent (and, for tensors,
after one is read). The host's types stay strict (docs/variables-types.md); these are what the
Python API accepts on top, as DSPex's type tables say:

* a ``tensor`` given as a (nested) list or tuple, or as ``{"shape": [...], "data": [...]
  [, "dtype": "float32"]}`` (DSPex's ``TensorType.validate``) is sent as the
  ``np.ndarray`` it describes;
* a ``map`` (``dict``) with keys that are not strings has them converted to strings, at every
  level ("Keys converted to strings", DSPex's type table);
* a torch, TensorFlow or JAX tensor is sent as its numpy array ("``:tensor`` → torch.Tensor or
  tf.Tensor, framework-specific"); a variable this client wrote with a torch (TensorFlow)
  tensor is read back as one, and ``SessionContext.set_tensor_framework("torch")`` makes every
  tensor read come back that way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, VariableTypeError

__all__ = ["FRAMEWORKS", "framework_of", "framework_to_numpy", "from_wire", "to_wire"]

FRAMEWORKS = ("numpy", "torch", "tensorflow")
_MODULES = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax", "jaxlib": "jax"}


def framework_of(value: Any) -> str | None:
    """``"torch"``, ``"tensorflow"`` or ``"jax"`` for a tensor of that framework, else None."""
    if isinstance(value, (np.ndarray, list, tuple, dict, str, bytes, int, float, bool)) or value is None:
        return None
    return _MODULES.get(type(value).__module__.split(".")[0])


def framework_to_numpy(value: Any) -> np.ndarray:
    """A framework tensor as a numpy array (a torch tensor is detached and moved to the CPU)."""
    if hasattr(value, "detach"):
        value = value.detach()
    if hasattr(value, "cpu"):
        value = value.cpu()
    if hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    return np.asarray(value)


def _tensor_from(value: Any, name: str) -> Any:
    try:
        if isinstance(value, (list, tuple)):
            arr = np.asarray(value)
        elif (
            isinstance(value, Mapping)
            and "shape" in value
            and "data" in value
            and set(value) <= {"shape", "data", "dtype"}
        ):
            arr = np.asarray(value["data"], dtype=value.get("dtype")).reshape(tuple(value["shape"]))
        else:
            return value
    except (TypeError, ValueError) as exc:
        raise VariableTypeError(
            f"'{name}': cannot make a tensor of {type(value).__name__}: {exc}",
            variable=name,
            type="tensor",
            got=type(value).__name__,
        ) from None
    if arr.dtype == object or arr.dtype.kind in ("U", "S", "c"):
        raise VariableTypeError(
            f"'{name}': a tensor needs a rectangular array of numbers or booleans (got {arr.dtype} data: ragged lists or text?)",
            variable=name,
            type="tensor",
            got=type(value).__name__,
        )
    return arr


def _str_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else str(k): _str_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_str_keys(v) for v in value]
    return value


def _has_foreign_keys(value: Any, depth: int = 0) -> bool:
    if depth > 64:
        return False
    if isinstance(value, Mapping):
        return any(not isinstance(k, str) or _has_foreign_keys(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_foreign_keys(v, depth + 1) for v in value)
    return False


def to_wire(value: Any, vtype: str, name: str = "value") -> Any:
    """``value`` in a form the host's type ``vtype`` takes ("" when the type is not known)."""
    if framework_of(value) is not None:
        value = framework_to_numpy(value)
    if vtype == "tensor":
        return _tensor_from(value, name)
    if isinstance(value, Mapping) and _has_foreign_keys(value):
        # map keys as strings (no other type takes a dict, and one with such keys cannot be encoded)
        return _str_keys(value)
    return value


def tensor_form(value: Any) -> bool:
    """Whether ``value`` is one of DSPex's tensor forms the host would refuse as such."""
    return isinstance(value, (list, tuple)) or (isinstance(value, Mapping) and "shape" in value and "data" in value)


def check_framework(name: str) -> str:
    if name not in FRAMEWORKS:
        raise InvalidArgumentError(
            f"tensor framework must be one of {', '.join(FRAMEWORKS)}, got {name!r}", parameter="framework"
        )
    if name != "numpy":
        try:
            __import__(name)
        except ImportError:
            raise InvalidArgumentError(
                f"tensors as {name} tensors need the '{name}' package, which is not installed (pip install {name})",
                parameter="framework",
            ) from None
    return name


def from_wire(value: Any, framework: str | None) -> Any:
    """A tensor read from the host (a plain ndarray, not an Embedding) as ``framework``'s tensor."""
    if framework in (None, "numpy") or type(value) is not np.ndarray:
        return value
    if framework == "torch":
        import torch  # here: an optional framework, loaded only for a tensor asked in its form

        return torch.from_numpy(np.array(value))  # a writable copy: decoded arrays are read-only
    if framework == "tensorflow":
        import tensorflow as tf  # here: an optional framework, as torch above

        return tf.convert_to_tensor(value)
    return value
