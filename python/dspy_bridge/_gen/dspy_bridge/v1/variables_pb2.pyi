from dspy_bridge._gen.dspy_bridge.v1 import errors_pb2 as _errors_pb2
from dspy_bridge._gen.dspy_bridge.v1 import values_pb2 as _values_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AccessRule(_message.Message):
    __slots__ = ("session_pattern", "permissions", "conditions")
    class ConditionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SESSION_PATTERN_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    session_pattern: str
    permissions: _containers.RepeatedScalarFieldContainer[str]
    conditions: _containers.ScalarMap[str, str]
    def __init__(self, session_pattern: _Optional[str] = ..., permissions: _Optional[_Iterable[str]] = ..., conditions: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Dependency(_message.Message):
    __slots__ = ("variable", "type", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VARIABLE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    variable: str
    type: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, variable: _Optional[str] = ..., type: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class VariableSpec(_message.Message):
    __slots__ = ("name", "type", "initial_value", "constraints_json", "metadata", "dependencies", "access_rules")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    INITIAL_VALUE_FIELD_NUMBER: _ClassVar[int]
    CONSTRAINTS_JSON_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    ACCESS_RULES_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    initial_value: _values_pb2.Value
    constraints_json: str
    metadata: _containers.ScalarMap[str, str]
    dependencies: _containers.RepeatedScalarFieldContainer[str]
    access_rules: _containers.RepeatedCompositeFieldContainer[AccessRule]
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., initial_value: _Optional[_Union[_values_pb2.Value, _Mapping]] = ..., constraints_json: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., dependencies: _Optional[_Iterable[str]] = ..., access_rules: _Optional[_Iterable[_Union[AccessRule, _Mapping]]] = ...) -> None: ...

class Variable(_message.Message):
    __slots__ = ("id", "name", "type", "value", "constraints_json", "metadata", "version", "create_revision", "modify_revision", "created_at_ms", "updated_at_ms", "updated_by", "access_rules", "dependencies")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CONSTRAINTS_JSON_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_REVISION_FIELD_NUMBER: _ClassVar[int]
    MODIFY_REVISION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    ACCESS_RULES_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    type: str
    value: _values_pb2.Value
    constraints_json: str
    metadata: _containers.ScalarMap[str, str]
    version: int
    create_revision: int
    modify_revision: int
    created_at_ms: int
    updated_at_ms: int
    updated_by: str
    access_rules: _containers.RepeatedCompositeFieldContainer[AccessRule]
    dependencies: _containers.RepeatedCompositeFieldContainer[Dependency]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[str] = ..., value: _Optional[_Union[_values_pb2.Value, _Mapping]] = ..., constraints_json: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., version: _Optional[int] = ..., create_revision: _Optional[int] = ..., modify_revision: _Optional[int] = ..., created_at_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ..., updated_by: _Optional[str] = ..., access_rules: _Optional[_Iterable[_Union[AccessRule, _Mapping]]] = ..., dependencies: _Optional[_Iterable[_Union[Dependency, _Mapping]]] = ...) -> None: ...

class VariableStats(_message.Message):
    __slots__ = ("read_count", "write_count", "last_read_ms", "last_write_ms", "avg_read_latency_ms", "avg_write_latency_ms")
    READ_COUNT_FIELD_NUMBER: _ClassVar[int]
    WRITE_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_READ_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_WRITE_MS_FIELD_NUMBER: _ClassVar[int]
    AVG_READ_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    AVG_WRITE_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    read_count: int
    write_count: int
    last_read_ms: int
    last_write_ms: int
    avg_read_latency_ms: float
    avg_write_latency_ms: float
    def __init__(self, read_count: _Optional[int] = ..., write_count: _Optional[int] = ..., last_read_ms: _Optional[int] = ..., last_write_ms: _Optional[int] = ..., avg_read_latency_ms: _Optional[float] = ..., avg_write_latency_ms: _Optional[float] = ...) -> None: ...

class RegisterVariablesRequest(_message.Message):
    __slots__ = ("session_id", "variables", "caller_session_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    variables: _containers.RepeatedCompositeFieldContainer[VariableSpec]
    caller_session_id: str
    def __init__(self, session_id: _Optional[str] = ..., variables: _Optional[_Iterable[_Union[VariableSpec, _Mapping]]] = ..., caller_session_id: _Optional[str] = ...) -> None: ...

class RegisterVariablesResponse(_message.Message):
    __slots__ = ("variables", "revision")
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    variables: _containers.RepeatedCompositeFieldContainer[Variable]
    revision: int
    def __init__(self, variables: _Optional[_Iterable[_Union[Variable, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class GetVariablesRequest(_message.Message):
    __slots__ = ("session_id", "names", "include_stats", "caller_session_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_STATS_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    names: _containers.RepeatedScalarFieldContainer[str]
    include_stats: bool
    caller_session_id: str
    def __init__(self, session_id: _Optional[str] = ..., names: _Optional[_Iterable[str]] = ..., include_stats: _Optional[bool] = ..., caller_session_id: _Optional[str] = ...) -> None: ...

class VariableResult(_message.Message):
    __slots__ = ("name", "found", "variable", "stats")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    name: str
    found: bool
    variable: Variable
    stats: VariableStats
    def __init__(self, name: _Optional[str] = ..., found: _Optional[bool] = ..., variable: _Optional[_Union[Variable, _Mapping]] = ..., stats: _Optional[_Union[VariableStats, _Mapping]] = ...) -> None: ...

class GetVariablesResponse(_message.Message):
    __slots__ = ("results", "revision")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[VariableResult]
    revision: int
    def __init__(self, results: _Optional[_Iterable[_Union[VariableResult, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class ListVariablesRequest(_message.Message):
    __slots__ = ("session_id", "pattern", "caller_session_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    pattern: str
    caller_session_id: str
    def __init__(self, session_id: _Optional[str] = ..., pattern: _Optional[str] = ..., caller_session_id: _Optional[str] = ...) -> None: ...

class ListVariablesResponse(_message.Message):
    __slots__ = ("variables", "revision")
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    variables: _containers.RepeatedCompositeFieldContainer[Variable]
    revision: int
    def __init__(self, variables: _Optional[_Iterable[_Union[Variable, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class VariableUpdate(_message.Message):
    __slots__ = ("name", "value", "expected_version", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: _values_pb2.Value
    expected_version: int
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., value: _Optional[_Union[_values_pb2.Value, _Mapping]] = ..., expected_version: _Optional[int] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class UpdateVariablesRequest(_message.Message):
    __slots__ = ("session_id", "updates", "atomic", "create_if_missing", "type_hint", "caller_session_id", "source")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    ATOMIC_FIELD_NUMBER: _ClassVar[int]
    CREATE_IF_MISSING_FIELD_NUMBER: _ClassVar[int]
    TYPE_HINT_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    updates: _containers.RepeatedCompositeFieldContainer[VariableUpdate]
    atomic: bool
    create_if_missing: bool
    type_hint: str
    caller_session_id: str
    source: str
    def __init__(self, session_id: _Optional[str] = ..., updates: _Optional[_Iterable[_Union[VariableUpdate, _Mapping]]] = ..., atomic: _Optional[bool] = ..., create_if_missing: _Optional[bool] = ..., type_hint: _Optional[str] = ..., caller_session_id: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class UpdateResult(_message.Message):
    __slots__ = ("name", "ok", "error", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    ok: bool
    error: _errors_pb2.ErrorDetail
    version: int
    def __init__(self, name: _Optional[str] = ..., ok: _Optional[bool] = ..., error: _Optional[_Union[_errors_pb2.ErrorDetail, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class UpdateVariablesResponse(_message.Message):
    __slots__ = ("results", "revision")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[UpdateResult]
    revision: int
    def __init__(self, results: _Optional[_Iterable[_Union[UpdateResult, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class DeleteVariablesRequest(_message.Message):
    __slots__ = ("session_id", "names", "caller_session_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    names: _containers.RepeatedScalarFieldContainer[str]
    caller_session_id: str
    def __init__(self, session_id: _Optional[str] = ..., names: _Optional[_Iterable[str]] = ..., caller_session_id: _Optional[str] = ...) -> None: ...

class DeleteVariablesResponse(_message.Message):
    __slots__ = ("revision", "deleted")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    revision: int
    deleted: int
    def __init__(self, revision: _Optional[int] = ..., deleted: _Optional[int] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("session_id", "names", "start_revision", "include_initial", "caller_session_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    START_REVISION_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INITIAL_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    names: _containers.RepeatedScalarFieldContainer[str]
    start_revision: int
    include_initial: bool
    caller_session_id: str
    def __init__(self, session_id: _Optional[str] = ..., names: _Optional[_Iterable[str]] = ..., start_revision: _Optional[int] = ..., include_initial: _Optional[bool] = ..., caller_session_id: _Optional[str] = ...) -> None: ...

class VariableChange(_message.Message):
    __slots__ = ("kind", "name", "id", "value", "old_value", "version", "metadata", "source", "timestamp_ms", "type")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[VariableChange.Kind]
        KIND_PUT: _ClassVar[VariableChange.Kind]
        KIND_DELETE: _ClassVar[VariableChange.Kind]
    KIND_UNSPECIFIED: VariableChange.Kind
    KIND_PUT: VariableChange.Kind
    KIND_DELETE: VariableChange.Kind
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    OLD_VALUE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    kind: VariableChange.Kind
    name: str
    id: str
    value: _values_pb2.Value
    old_value: _values_pb2.Value
    version: int
    metadata: _containers.ScalarMap[str, str]
    source: str
    timestamp_ms: int
    type: str
    def __init__(self, kind: _Optional[_Union[VariableChange.Kind, str]] = ..., name: _Optional[str] = ..., id: _Optional[str] = ..., value: _Optional[_Union[_values_pb2.Value, _Mapping]] = ..., old_value: _Optional[_Union[_values_pb2.Value, _Mapping]] = ..., version: _Optional[int] = ..., metadata: _Optional[_Mapping[str, str]] = ..., source: _Optional[str] = ..., timestamp_ms: _Optional[int] = ..., type: _Optional[str] = ...) -> None: ...

class WatchResponse(_message.Message):
    __slots__ = ("revision", "changes", "initial", "compacted", "compact_revision")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    INITIAL_FIELD_NUMBER: _ClassVar[int]
    COMPACTED_FIELD_NUMBER: _ClassVar[int]
    COMPACT_REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    changes: _containers.RepeatedCompositeFieldContainer[VariableChange]
    initial: bool
    compacted: bool
    compact_revision: int
    def __init__(self, revision: _Optional[int] = ..., changes: _Optional[_Iterable[_Union[VariableChange, _Mapping]]] = ..., initial: _Optional[bool] = ..., compacted: _Optional[bool] = ..., compact_revision: _Optional[int] = ...) -> None: ...

class HistoryRequest(_message.Message):
    __slots__ = ("session_id", "name", "limit", "offset", "caller_session_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    name: str
    limit: int
    offset: int
    caller_session_id: str
    def __init__(self, session_id: _Optional[str] = ..., name: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., caller_session_id: _Optional[str] = ...) -> None: ...

class HistoryEntry(_message.Message):
    __slots__ = ("version", "value", "updated_at_ms", "updated_by", "metadata", "revision")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    version: int
    value: _values_pb2.Value
    updated_at_ms: int
    updated_by: str
    metadata: _containers.ScalarMap[str, str]
    revision: int
    def __init__(self, version: _Optional[int] = ..., value: _Optional[_Union[_values_pb2.Value, _Mapping]] = ..., updated_at_ms: _Optional[int] = ..., updated_by: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., revision: _Optional[int] = ...) -> None: ...

class HistoryResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[HistoryEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[HistoryEntry, _Mapping]]] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ("session_id", "name", "version", "reason", "caller_session_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    name: str
    version: int
    reason: str
    caller_session_id: str
    def __init__(self, session_id: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ..., reason: _Optional[str] = ..., caller_session_id: _Optional[str] = ...) -> None: ...

class DependencyRequest(_message.Message):
    __slots__ = ("session_id", "from_variable", "to_variable", "type", "metadata", "remove", "caller_session_id")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_VARIABLE_FIELD_NUMBER: _ClassVar[int]
    TO_VARIABLE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    from_variable: str
    to_variable: str
    type: str
    metadata: _containers.ScalarMap[str, str]
    remove: bool
    caller_session_id: str
    def __init__(self, session_id: _Optional[str] = ..., from_variable: _Optional[str] = ..., to_variable: _Optional[str] = ..., type: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., remove: _Optional[bool] = ..., caller_session_id: _Optional[str] = ...) -> None: ...

class GetDependenciesRequest(_message.Message):
    __slots__ = ("session_id", "variable", "include_transitive", "dependents", "caller_session_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TRANSITIVE_FIELD_NUMBER: _ClassVar[int]
    DEPENDENTS_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    variable: str
    include_transitive: bool
    dependents: bool
    caller_session_id: str
    def __init__(self, session_id: _Optional[str] = ..., variable: _Optional[str] = ..., include_transitive: _Optional[bool] = ..., dependents: _Optional[bool] = ..., caller_session_id: _Optional[str] = ...) -> None: ...

class DependencyInfo(_message.Message):
    __slots__ = ("variable", "variable_id", "type", "depth")
    VARIABLE_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    variable: str
    variable_id: str
    type: str
    depth: int
    def __init__(self, variable: _Optional[str] = ..., variable_id: _Optional[str] = ..., type: _Optional[str] = ..., depth: _Optional[int] = ...) -> None: ...

class GetDependenciesResponse(_message.Message):
    __slots__ = ("dependencies",)
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    dependencies: _containers.RepeatedCompositeFieldContainer[DependencyInfo]
    def __init__(self, dependencies: _Optional[_Iterable[_Union[DependencyInfo, _Mapping]]] = ...) -> None: ...

class SetPermissionsRequest(_message.Message):
    __slots__ = ("session_id", "variable", "rules", "caller_session_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    variable: str
    rules: _containers.RepeatedCompositeFieldContainer[AccessRule]
    caller_session_id: str
    def __init__(self, session_id: _Optional[str] = ..., variable: _Optional[str] = ..., rules: _Optional[_Iterable[_Union[AccessRule, _Mapping]]] = ..., caller_session_id: _Optional[str] = ...) -> None: ...

class CheckAccessRequest(_message.Message):
    __slots__ = ("session_id", "variable", "permission", "caller_session_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    variable: str
    permission: str
    caller_session_id: str
    def __init__(self, session_id: _Optional[str] = ..., variable: _Optional[str] = ..., permission: _Optional[str] = ..., caller_session_id: _Optional[str] = ...) -> None: ...

class CheckAccessResponse(_message.Message):
    __slots__ = ("allowed",)
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    def __init__(self, allowed: _Optional[bool] = ...) -> None: ...

class ExportVariablesRequest(_message.Message):
    __slots__ = ("session_id", "format", "include_history", "include_dependencies", "filter_pattern", "caller_session_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_HISTORY_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    FILTER_PATTERN_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    format: str
    include_history: bool
    include_dependencies: bool
    filter_pattern: str
    caller_session_id: str
    def __init__(self, session_id: _Optional[str] = ..., format: _Optional[str] = ..., include_history: _Optional[bool] = ..., include_dependencies: _Optional[bool] = ..., filter_pattern: _Optional[str] = ..., caller_session_id: _Optional[str] = ...) -> None: ...

class ExportVariablesResponse(_message.Message):
    __slots__ = ("data", "count")
    DATA_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    count: int
    def __init__(self, data: _Optional[bytes] = ..., count: _Optional[int] = ...) -> None: ...

class ImportVariablesRequest(_message.Message):
    __slots__ = ("session_id", "data", "format", "merge_strategy", "dry_run", "caller_session_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    MERGE_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    data: bytes
    format: str
    merge_strategy: str
    dry_run: bool
    caller_session_id: str
    def __init__(self, session_id: _Optional[str] = ..., data: _Optional[bytes] = ..., format: _Optional[str] = ..., merge_strategy: _Optional[str] = ..., dry_run: _Optional[bool] = ..., caller_session_id: _Optional[str] = ...) -> None: ...

class ImportVariablesResponse(_message.Message):
    __slots__ = ("imported", "skipped", "errors", "details_json", "revision", "warnings", "warning_count")
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    WARNING_COUNT_FIELD_NUMBER: _ClassVar[int]
    imported: int
    skipped: int
    errors: int
    details_json: str
    revision: int
    warnings: _containers.RepeatedScalarFieldContainer[str]
    warning_count: int
    def __init__(self, imported: _Optional[int] = ..., skipped: _Optional[int] = ..., errors: _Optional[int] = ..., details_json: _Optional[str] = ..., revision: _Optional[int] = ..., warnings: _Optional[_Iterable[str]] = ..., warning_count: _Optional[int] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ("session_id", "variable", "caller_session_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    VARIABLE_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    variable: str
    caller_session_id: str
    def __init__(self, session_id: _Optional[str] = ..., variable: _Optional[str] = ..., caller_session_id: _Optional[str] = ...) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("stats_json",)
    STATS_JSON_FIELD_NUMBER: _ClassVar[int]
    stats_json: str
    def __init__(self, stats_json: _Optional[str] = ...) -> None: ...
