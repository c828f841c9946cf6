"""The value envelope: Python objects <-> ``dspy_bridge.v1.Value`` (JSON text + attachments).

See ``docs/contract-values.md`` for the wire format and the type mapping.
"""

from ._decode import ExternalAttachment, ExternalTensor, decode_value
from ._dtypes import DTYPE_NAMES, DTYPES, proto_dtype_for
from ._embedding import Embedding
from ._encode import (
    LONG_STRING_CHARS,
    MAX_SAFE_INTEGER,
    encode_value,
    encode_small_map_utf8,
    encode_value_parts,
    encode_value_raw,
)
from ._errors import ValueDecodingError, ValueEncodingError

__all__ = [
    "DTYPES",
    "DTYPE_NAMES",
    "MAX_SAFE_INTEGER",
    "Embedding",
    "ExternalAttachment",
    "ExternalTensor",
    "LONG_STRING_CHARS",
    "ValueDecodingError",
    "ValueEncodingError",
    "decode_value",
    "encode_value",
    "encode_value_parts",
    "encode_small_map_utf8",
    "encode_value_raw",
    "proto_dtype_for",
]
