from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TracebackFrame(_message.Message):
    __slots__ = ("filename", "lineno", "name", "line")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    LINENO_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    filename: str
    lineno: int
    name: str
    line: str
    def __init__(self, filename: _Optional[str] = ..., lineno: _Optional[int] = ..., name: _Optional[str] = ..., line: _Optional[str] = ...) -> None: ...

class ErrorDetail(_message.Message):
    __slots__ = ("code", "reason", "message", "python_type", "traceback", "details_json")
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PYTHON_TYPE_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    code: int
    reason: str
    message: str
    python_type: str
    traceback: _containers.RepeatedCompositeFieldContainer[TracebackFrame]
    details_json: str
    def __init__(self, code: _Optional[int] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., python_type: _Optional[str] = ..., traceback: _Optional[_Iterable[_Union[TracebackFrame, _Mapping]]] = ..., details_json: _Optional[str] = ...) -> None: ...
