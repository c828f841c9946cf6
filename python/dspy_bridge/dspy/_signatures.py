"""Signatures and inputs checked before DSPy sees them: DSPy accepts a signature without an
output (``"q ->"``) and fails later with a bare ``StopIteration``, and only logs a warning for
a missing input field before calling the LM anyway."""

from __future__ import annotations

import base64
import types
import typing
from typing import Any

import dspy

from ..errors import InvalidArgumentError

__all__ = ["check_inputs", "check_signature", "signature_text"]

# The keys of a signature spec: a typed signature string (DSPy's own syntax) with the
# instructions and field descriptions a string cannot carry. Hosts build it from a schema
# object (zod, any Standard Schema library) whose descriptions should reach the prompt.
_SPEC_KEYS = frozenset({"signature", "instructions", "descriptions"})


def signature_text(signature: Any) -> Any:
    """The signature string of a spec (``{"signature": "q -> a: float", ...}``), else ``signature``."""
    return signature.get("signature") if isinstance(signature, dict) else signature


def _from_spec(spec: dict[str, Any], parameter: str) -> Any:
    unknown = sorted(set(spec) - _SPEC_KEYS)
    text, instructions, descriptions = spec.get("signature"), spec.get("instructions"), spec.get("descriptions") or {}
    if (
        unknown
        or not isinstance(text, str)
        or not isinstance(instructions, (str, type(None)))
        or not isinstance(descriptions, dict)
    ):
        raise InvalidArgumentError(
            "a signature spec is {signature: str, instructions?: str, descriptions?: {field: str}}"
            + (f"; unknown key(s): {', '.join(map(str, unknown))}" if unknown else ""),
            parameter=parameter,
        )
    sig = dspy.Signature(text, instructions) if instructions else dspy.Signature(text)
    for name, desc in descriptions.items():
        if name not in sig.fields or not isinstance(desc, str):
            raise InvalidArgumentError(
                f"descriptions.{name}: no such field in {text!r}, or not a string",
                parameter=f"{parameter}.descriptions.{name}",
            )
        sig = sig.with_updated_fields(name, desc=desc)
    return sig


def check_signature(signature: Any, parameter: str = "signature") -> Any:
    """The ``dspy.Signature`` for ``signature`` (a string, a spec with instructions and field
    descriptions, or a Signature class), with at least one input and one output field;
    ``InvalidArgumentError`` naming the problem otherwise (``"q ->"`` has no output: DSPy
    would fail later with a bare StopIteration)."""
    try:
        if isinstance(signature, str):
            sig = dspy.Signature(signature)
        elif isinstance(signature, dict):
            sig = _from_spec(signature, parameter)
        else:
            sig = signature
    except InvalidArgumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - DSPy's parse errors are ValueError, SyntaxError, ...
        raise InvalidArgumentError(f"invalid signature {signature!r}: {exc}", parameter=parameter) from None
    if not (isinstance(sig, type) and issubclass(sig, dspy.Signature)):
        raise InvalidArgumentError(
            f"a signature must be a string like 'question -> answer', got {signature!r}", parameter=parameter
        )
    if not sig.input_fields:
        raise InvalidArgumentError(
            f"invalid signature {signature!r}: it needs at least one input field before '->'", parameter=parameter
        )
    if not sig.output_fields:
        raise InvalidArgumentError(
            f"invalid signature {signature!r}: it needs at least one output field after '->'", parameter=parameter
        )
    return sig


def _optional(annotation: Any) -> bool:
    """Whether a field's type admits None (``Optional[str]``, ``str | None``)."""
    origin = typing.get_origin(annotation)
    unions = (typing.Union, getattr(types, "UnionType", typing.Union))
    return annotation is type(None) or (origin in unions and type(None) in typing.get_args(annotation))


def check_inputs(signature: Any, inputs: Any, parameter: str = "inputs") -> dict[str, Any]:
    """``inputs`` as a dict holding every input field of ``signature`` (an ``Optional`` one may
    be left out): DSPy only logs a warning for a missing input and runs the LM anyway. An
    image field's bytes or file path becomes a ``dspy.Image`` in place (see _as_image)."""
    required, images = _required_inputs(signature)
    if not isinstance(inputs, dict):
        raise InvalidArgumentError(
            f"{parameter} must be an object of input fields, got {type(inputs).__name__}", parameter=parameter
        )
    missing = [n for n in required if n not in inputs]
    if missing:
        raise InvalidArgumentError(
            f"missing input field(s) {', '.join(repr(m) for m in missing)} of signature {_shown(signature)} "
            f"(inputs given: {', '.join(sorted(map(str, inputs))) or 'none'})",
            parameter=f"{parameter}.{missing[0]}",
            details={"missing": missing},
        )
    for name in images:
        if name in inputs:
            inputs[name] = _as_image(inputs[name], f"{parameter}.{name}")
    return inputs


# A URL or data URI is given to dspy.Image as it is; any other string is a local file path.
_IMAGE_URL_PREFIXES = ("http://", "https://", "gs://", "data:")
# Image formats by their first bytes: the data URI names its type without Pillow (which
# DSPy needs to take raw bytes, and which is not one of its dependencies).
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def _image_type(data: bytes) -> str | None:
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _as_image(value: Any, parameter: str) -> Any:
    """A dspy.Image from what a host can send for an image field: the image's bytes (PNG,
    JPEG, GIF, WebP: a Buffer or Uint8Array in TypeScript, arriving as bytes), a file path on
    the worker's machine, or a URL / data URI. dspy.Image itself is passed through."""
    if isinstance(value, dspy.Image):
        return value
    try:
        if isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
            mime = _image_type(data)
            if mime is None:
                raise ValueError(
                    f"its {len(data)} bytes are not a PNG, JPEG, GIF or WebP image (first bytes {data[:8]!r})"
                )
            return dspy.Image(f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}")
        if isinstance(value, str):
            if value.startswith(_IMAGE_URL_PREFIXES):
                return dspy.Image(value)
            return dspy.Image.from_path(value)
    except Exception as err:  # noqa: BLE001 - DSPy's own error (not an image, no such file) is the reason
        raise InvalidArgumentError(
            f"{parameter} is not an image DSPy can read: {str(err)[:300]}", parameter=parameter
        ) from None
    raise InvalidArgumentError(
        f"{parameter} is an image field: give the image's bytes, a file path or a URL, got {type(value).__name__}",
        parameter=parameter,
    )


# Required and image input names by signature string. Parsing a signature string costs DSPy
# about a millisecond, more than a whole Predict call on a fast LM, and every run checks its inputs.
_required_by_text: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
_REQUIRED_CACHE_LIMIT = 512


def _required_inputs(signature: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The required input fields of ``signature``, and its image fields."""
    text = signature_text(signature)  # descriptions and instructions leave the fields as they are
    if isinstance(text, str) and text in _required_by_text:
        return _required_by_text[text]
    sig = check_signature(signature)
    required = tuple(n for n, f in sig.input_fields.items() if not _optional(f.annotation))
    images = tuple(n for n, f in sig.input_fields.items() if _is_image(f.annotation))
    if isinstance(text, str):
        if len(_required_by_text) >= _REQUIRED_CACHE_LIMIT:
            _required_by_text.pop(next(iter(_required_by_text)))
        _required_by_text[text] = (required, images)
    return required, images


def _is_image(annotation: Any) -> bool:
    """dspy.Image, or an Optional of it."""
    if annotation is dspy.Image:
        return True
    return _optional(annotation) and any(a is dspy.Image for a in typing.get_args(annotation))


def _shown(signature: Any) -> str:
    return repr(signature) if isinstance(signature, str) else getattr(signature, "__name__", repr(signature))
