from dspy_bridge._gen.dspy_bridge.v1 import configuration_pb2 as _configuration_pb2
from dspy_bridge._gen.dspy_bridge.v1 import optimization_pb2 as _optimization_pb2
from dspy_bridge._gen.dspy_bridge.v1 import session_pb2 as _session_pb2
from dspy_bridge._gen.dspy_bridge.v1 import tools_pb2 as _tools_pb2
from dspy_bridge._gen.dspy_bridge.v1 import variables_pb2 as _variables_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class PingRequest(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class PingResponse(_message.Message):
    __slots__ = ("message", "host_version", "workers_ready")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    HOST_VERSION_FIELD_NUMBER: _ClassVar[int]
    WORKERS_READY_FIELD_NUMBER: _ClassVar[int]
    message: str
    host_version: str
    workers_ready: int
    def __init__(self, message: _Optional[str] = ..., host_version: _Optional[str] = ..., workers_ready: _Optional[int] = ...) -> None: ...
