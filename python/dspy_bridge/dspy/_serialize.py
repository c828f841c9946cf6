"""DSPy results -> plain values for the value envelope: every field, reasoning included,
every completion, and the token usage."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plain", "serialize_prediction"]


def plain(value: Any) -> Any:
    """A value the envelope can carry: containers recursively, pydantic models dumped,
    DSPy objects by their fields, anything else as its text."""
    if value is None or isinstance(value, (str, bool, int, float, bytes, np.ndarray)):
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return plain(dump())
    to_dict = getattr(value, "toDict", None)
    if callable(to_dict):
        return plain(to_dict())
    return str(value)


def serialize_prediction(prediction: Any) -> dict[str, Any]:
    fields = (
        {k: plain(v) for k, v in prediction.items()} if hasattr(prediction, "items") else {"value": plain(prediction)}
    )
    out: dict[str, Any] = {"fields": fields}
    completions = getattr(prediction, "_completions", None)
    if completions is not None and len(completions) > 1:
        store = completions._completions
        out["completions"] = [{k: plain(store[k][i]) for k in store} for i in range(len(completions))]
    usage = prediction.get_lm_usage() if hasattr(prediction, "get_lm_usage") else None
    out["usage"] = plain(usage) if usage else {}
    return out
