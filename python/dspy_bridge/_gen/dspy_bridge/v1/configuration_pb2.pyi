from dspy_bridge._gen.dspy_bridge.v1 import values_pb2 as _values_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConfigurationInfo(_message.Message):
    __slots__ = ("name", "definition_json", "version", "variables")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_JSON_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    name: str
    definition_json: str
    version: int
    variables: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., definition_json: _Optional[str] = ..., version: _Optional[int] = ..., variables: _Optional[_Iterable[str]] = ...) -> None: ...

class RegisterConfigurationRequest(_message.Message):
    __slots__ = ("session_id", "name", "definition_json", "caller_session_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_JSON_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    name: str
    definition_json: str
    caller_session_id: str
    def __init__(self, session_id: _Optional[str] = ..., name: _Optional[str] = ..., definition_json: _Optional[str] = ..., caller_session_id: _Optional[str] = ...) -> None: ...

class GetConfigurationRequest(_message.Message):
    __slots__ = ("session_id", "name")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    name: str
    def __init__(self, session_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ApplyConfigurationRequest(_message.Message):
    __slots__ = ("session_id", "name", "values", "metadata", "caller_session_id")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    name: str
    values: _values_pb2.Value
    metadata: _containers.ScalarMap[str, str]
    caller_session_id: str
    def __init__(self, session_id: _Optional[str] = ..., name: _Optional[str] = ..., values: _Optional[_Union[_values_pb2.Value, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., caller_session_id: _Optional[str] = ...) -> None: ...

class ApplyConfigurationResponse(_message.Message):
    __slots__ = ("version", "revision")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    version: int
    revision: int
    def __init__(self, version: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class SampleConfigurationRequest(_message.Message):
    __slots__ = ("session_id", "name", "seed", "count")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    name: str
    seed: int
    count: int
    def __init__(self, session_id: _Optional[str] = ..., name: _Optional[str] = ..., seed: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class SampleConfigurationResponse(_message.Message):
    __slots__ = ("samples", "acceptance_rate")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    ACCEPTANCE_RATE_FIELD_NUMBER: _ClassVar[int]
    samples: _values_pb2.Value
    acceptance_rate: float
    def __init__(self, samples: _Optional[_Union[_values_pb2.Value, _Mapping]] = ..., acceptance_rate: _Optional[float] = ...) -> None: ...

class ValidateConfigurationRequest(_message.Message):
    __slots__ = ("session_id", "name", "values")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    name: str
    values: _values_pb2.Value
    def __init__(self, session_id: _Optional[str] = ..., name: _Optional[str] = ..., values: _Optional[_Union[_values_pb2.Value, _Mapping]] = ...) -> None: ...

class ValidateConfigurationResponse(_message.Message):
    __slots__ = ("ok", "violations_json")
    OK_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_JSON_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    violations_json: str
    def __init__(self, ok: _Optional[bool] = ..., violations_json: _Optional[str] = ...) -> None: ...
