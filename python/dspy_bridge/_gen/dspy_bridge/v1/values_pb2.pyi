from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DTYPE_UNSPECIFIED: _ClassVar[DType]
    DTYPE_FLOAT32: _ClassVar[DType]
    DTYPE_FLOAT64: _ClassVar[DType]
    DTYPE_INT32: _ClassVar[DType]
    DTYPE_INT64: _ClassVar[DType]
    DTYPE_UINT8: _ClassVar[DType]
    DTYPE_INT8: _ClassVar[DType]
    DTYPE_INT16: _ClassVar[DType]
    DTYPE_UINT16: _ClassVar[DType]
    DTYPE_UINT32: _ClassVar[DType]
    DTYPE_UINT64: _ClassVar[DType]
    DTYPE_BOOL: _ClassVar[DType]
    DTYPE_FLOAT16: _ClassVar[DType]
DTYPE_UNSPECIFIED: DType
DTYPE_FLOAT32: DType
DTYPE_FLOAT64: DType
DTYPE_INT32: DType
DTYPE_INT64: DType
DTYPE_UINT8: DType
DTYPE_INT8: DType
DTYPE_INT16: DType
DTYPE_UINT16: DType
DTYPE_UINT32: DType
DTYPE_UINT64: DType
DTYPE_BOOL: DType
DTYPE_FLOAT16: DType

class Tensor(_message.Message):
    __slots__ = ("dtype", "shape", "data")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    dtype: DType
    shape: _containers.RepeatedScalarFieldContainer[int]
    data: bytes
    def __init__(self, dtype: _Optional[_Union[DType, str]] = ..., shape: _Optional[_Iterable[int]] = ..., data: _Optional[bytes] = ...) -> None: ...

class Attachment(_message.Message):
    __slots__ = ("bytes", "tensor", "utf8")
    BYTES_FIELD_NUMBER: _ClassVar[int]
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    UTF8_FIELD_NUMBER: _ClassVar[int]
    bytes: bytes
    tensor: Tensor
    utf8: bytes
    def __init__(self, bytes: _Optional[bytes] = ..., tensor: _Optional[_Union[Tensor, _Mapping]] = ..., utf8: _Optional[bytes] = ...) -> None: ...

class AttachmentDescriptor(_message.Message):
    __slots__ = ("index", "kind", "dtype", "shape", "length")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[AttachmentDescriptor.Kind]
        KIND_BYTES: _ClassVar[AttachmentDescriptor.Kind]
        KIND_TENSOR: _ClassVar[AttachmentDescriptor.Kind]
        KIND_UTF8: _ClassVar[AttachmentDescriptor.Kind]
    KIND_UNSPECIFIED: AttachmentDescriptor.Kind
    KIND_BYTES: AttachmentDescriptor.Kind
    KIND_TENSOR: AttachmentDescriptor.Kind
    KIND_UTF8: AttachmentDescriptor.Kind
    INDEX_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    index: int
    kind: AttachmentDescriptor.Kind
    dtype: DType
    shape: _containers.RepeatedScalarFieldContainer[int]
    length: int
    def __init__(self, index: _Optional[int] = ..., kind: _Optional[_Union[AttachmentDescriptor.Kind, str]] = ..., dtype: _Optional[_Union[DType, str]] = ..., shape: _Optional[_Iterable[int]] = ..., length: _Optional[int] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("json", "attachments", "external")
    JSON_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_FIELD_NUMBER: _ClassVar[int]
    json: str
    attachments: _containers.RepeatedCompositeFieldContainer[Attachment]
    external: _containers.RepeatedCompositeFieldContainer[AttachmentDescriptor]
    def __init__(self, json: _Optional[str] = ..., attachments: _Optional[_Iterable[_Union[Attachment, _Mapping]]] = ..., external: _Optional[_Iterable[_Union[AttachmentDescriptor, _Mapping]]] = ...) -> None: ...
