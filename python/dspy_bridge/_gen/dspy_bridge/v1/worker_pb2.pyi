from dspy_bridge._gen.dspy_bridge.v1 import errors_pb2 as _errors_pb2
from dspy_bridge._gen.dspy_bridge.v1 import values_pb2 as _values_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExecuteRequest(_message.Message):
    __slots__ = ("call_id", "command", "args", "session_id", "timeout_ms", "stream", "stream_window", "traceparent")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    STREAM_WINDOW_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    call_id: int
    command: str
    args: _values_pb2.Value
    session_id: str
    timeout_ms: int
    stream: bool
    stream_window: int
    traceparent: str
    def __init__(self, call_id: _Optional[int] = ..., command: _Optional[str] = ..., args: _Optional[_Union[_values_pb2.Value, _Mapping]] = ..., session_id: _Optional[str] = ..., timeout_ms: _Optional[int] = ..., stream: _Optional[bool] = ..., stream_window: _Optional[int] = ..., traceparent: _Optional[str] = ...) -> None: ...

class ExecuteResponse(_message.Message):
    __slots__ = ("call_id", "result", "error")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    call_id: int
    result: _values_pb2.Value
    error: _errors_pb2.ErrorDetail
    def __init__(self, call_id: _Optional[int] = ..., result: _Optional[_Union[_values_pb2.Value, _Mapping]] = ..., error: _Optional[_Union[_errors_pb2.ErrorDetail, _Mapping]] = ...) -> None: ...

class StreamItem(_message.Message):
    __slots__ = ("call_id", "item", "end", "error")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    call_id: int
    item: _values_pb2.Value
    end: bool
    error: _errors_pb2.ErrorDetail
    def __init__(self, call_id: _Optional[int] = ..., item: _Optional[_Union[_values_pb2.Value, _Mapping]] = ..., end: _Optional[bool] = ..., error: _Optional[_Union[_errors_pb2.ErrorDetail, _Mapping]] = ...) -> None: ...

class StreamCredit(_message.Message):
    __slots__ = ("call_id", "items")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    call_id: int
    items: int
    def __init__(self, call_id: _Optional[int] = ..., items: _Optional[int] = ...) -> None: ...

class HostCall(_message.Message):
    __slots__ = ("call_id", "method", "request", "stream", "stream_window", "traceparent", "out_of_band_reply")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    STREAM_WINDOW_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_BAND_REPLY_FIELD_NUMBER: _ClassVar[int]
    call_id: int
    method: str
    request: bytes
    stream: bool
    stream_window: int
    traceparent: str
    out_of_band_reply: bool
    def __init__(self, call_id: _Optional[int] = ..., method: _Optional[str] = ..., request: _Optional[bytes] = ..., stream: _Optional[bool] = ..., stream_window: _Optional[int] = ..., traceparent: _Optional[str] = ..., out_of_band_reply: _Optional[bool] = ...) -> None: ...

class HostReply(_message.Message):
    __slots__ = ("call_id", "response", "error", "end")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    call_id: int
    response: bytes
    error: _errors_pb2.ErrorDetail
    end: bool
    def __init__(self, call_id: _Optional[int] = ..., response: _Optional[bytes] = ..., error: _Optional[_Union[_errors_pb2.ErrorDetail, _Mapping]] = ..., end: _Optional[bool] = ...) -> None: ...

class HostStreamCredit(_message.Message):
    __slots__ = ("call_id", "items")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    call_id: int
    items: int
    def __init__(self, call_id: _Optional[int] = ..., items: _Optional[int] = ...) -> None: ...

class HostCallCancel(_message.Message):
    __slots__ = ("call_id",)
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    call_id: int
    def __init__(self, call_id: _Optional[int] = ...) -> None: ...

class CancelRequest(_message.Message):
    __slots__ = ("call_id",)
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    call_id: int
    def __init__(self, call_id: _Optional[int] = ...) -> None: ...

class CancelResponse(_message.Message):
    __slots__ = ("call_id", "found")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    call_id: int
    found: bool
    def __init__(self, call_id: _Optional[int] = ..., found: _Optional[bool] = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = ("probe_id",)
    PROBE_ID_FIELD_NUMBER: _ClassVar[int]
    probe_id: int
    def __init__(self, probe_id: _Optional[int] = ...) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ("probe_id", "rss_bytes", "in_flight", "served")
    PROBE_ID_FIELD_NUMBER: _ClassVar[int]
    RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    SERVED_FIELD_NUMBER: _ClassVar[int]
    probe_id: int
    rss_bytes: int
    in_flight: int
    served: int
    def __init__(self, probe_id: _Optional[int] = ..., rss_bytes: _Optional[int] = ..., in_flight: _Optional[int] = ..., served: _Optional[int] = ...) -> None: ...

class DrainRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DrainResponse(_message.Message):
    __slots__ = ("in_flight",)
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    in_flight: int
    def __init__(self, in_flight: _Optional[int] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("role", "worker_id", "pid", "token", "protocol_version", "commands", "python_version", "dspy_version")
    class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ROLE_UNSPECIFIED: _ClassVar[Hello.Role]
        ROLE_WORKER: _ClassVar[Hello.Role]
        ROLE_FORK_SERVER: _ClassVar[Hello.Role]
    ROLE_UNSPECIFIED: Hello.Role
    ROLE_WORKER: Hello.Role
    ROLE_FORK_SERVER: Hello.Role
    ROLE_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    DSPY_VERSION_FIELD_NUMBER: _ClassVar[int]
    role: Hello.Role
    worker_id: str
    pid: int
    token: str
    protocol_version: int
    commands: _containers.RepeatedScalarFieldContainer[str]
    python_version: str
    dspy_version: str
    def __init__(self, role: _Optional[_Union[Hello.Role, str]] = ..., worker_id: _Optional[str] = ..., pid: _Optional[int] = ..., token: _Optional[str] = ..., protocol_version: _Optional[int] = ..., commands: _Optional[_Iterable[str]] = ..., python_version: _Optional[str] = ..., dspy_version: _Optional[str] = ...) -> None: ...

class ForkRequest(_message.Message):
    __slots__ = ("worker_id",)
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    def __init__(self, worker_id: _Optional[str] = ...) -> None: ...

class ForkResponse(_message.Message):
    __slots__ = ("worker_id", "pid", "error")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    pid: int
    error: str
    def __init__(self, worker_id: _Optional[str] = ..., pid: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class WorkerExited(_message.Message):
    __slots__ = ("worker_id", "pid", "exit_code", "signal")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    pid: int
    exit_code: int
    signal: int
    def __init__(self, worker_id: _Optional[str] = ..., pid: _Optional[int] = ..., exit_code: _Optional[int] = ..., signal: _Optional[int] = ...) -> None: ...

class WorkerFrame(_message.Message):
    __slots__ = ("hello", "execute", "result", "stream_item", "cancel", "cancelled", "health", "health_reply", "drain", "drained", "fork", "forked", "protocol_error", "worker_exited", "stream_credit", "host_call", "host_reply", "host_call_cancel", "host_stream_credit")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    EXECUTE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    STREAM_ITEM_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    HEALTH_REPLY_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    DRAINED_FIELD_NUMBER: _ClassVar[int]
    FORK_FIELD_NUMBER: _ClassVar[int]
    FORKED_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_ERROR_FIELD_NUMBER: _ClassVar[int]
    WORKER_EXITED_FIELD_NUMBER: _ClassVar[int]
    STREAM_CREDIT_FIELD_NUMBER: _ClassVar[int]
    HOST_CALL_FIELD_NUMBER: _ClassVar[int]
    HOST_REPLY_FIELD_NUMBER: _ClassVar[int]
    HOST_CALL_CANCEL_FIELD_NUMBER: _ClassVar[int]
    HOST_STREAM_CREDIT_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    execute: ExecuteRequest
    result: ExecuteResponse
    stream_item: StreamItem
    cancel: CancelRequest
    cancelled: CancelResponse
    health: HealthRequest
    health_reply: HealthResponse
    drain: DrainRequest
    drained: DrainResponse
    fork: ForkRequest
    forked: ForkResponse
    protocol_error: ExecuteResponse
    worker_exited: WorkerExited
    stream_credit: StreamCredit
    host_call: HostCall
    host_reply: HostReply
    host_call_cancel: HostCallCancel
    host_stream_credit: HostStreamCredit
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., execute: _Optional[_Union[ExecuteRequest, _Mapping]] = ..., result: _Optional[_Union[ExecuteResponse, _Mapping]] = ..., stream_item: _Optional[_Union[StreamItem, _Mapping]] = ..., cancel: _Optional[_Union[CancelRequest, _Mapping]] = ..., cancelled: _Optional[_Union[CancelResponse, _Mapping]] = ..., health: _Optional[_Union[HealthRequest, _Mapping]] = ..., health_reply: _Optional[_Union[HealthResponse, _Mapping]] = ..., drain: _Optional[_Union[DrainRequest, _Mapping]] = ..., drained: _Optional[_Union[DrainResponse, _Mapping]] = ..., fork: _Optional[_Union[ForkRequest, _Mapping]] = ..., forked: _Optional[_Union[ForkResponse, _Mapping]] = ..., protocol_error: _Optional[_Union[ExecuteResponse, _Mapping]] = ..., worker_exited: _Optional[_Union[WorkerExited, _Mapping]] = ..., stream_credit: _Optional[_Union[StreamCredit, _Mapping]] = ..., host_call: _Optional[_Union[HostCall, _Mapping]] = ..., host_reply: _Optional[_Union[HostReply, _Mapping]] = ..., host_call_cancel: _Optional[_Union[HostCallCancel, _Mapping]] = ..., host_stream_credit: _Optional[_Union[HostStreamCredit, _Mapping]] = ...) -> None: ...
