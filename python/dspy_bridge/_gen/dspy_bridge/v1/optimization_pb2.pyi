from dspy_bridge._gen.dspy_bridge.v1 import errors_pb2 as _errors_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OptimizationTarget(_message.Message):
    __slots__ = ("variable", "configuration")
    VARIABLE_FIELD_NUMBER: _ClassVar[int]
    CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    variable: str
    configuration: str
    def __init__(self, variable: _Optional[str] = ..., configuration: _Optional[str] = ...) -> None: ...

class StartOptimizationRequest(_message.Message):
    __slots__ = ("session_id", "target", "optimizer", "objective", "max_iterations", "convergence_threshold", "options_json", "caller_session_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    MAX_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    CONVERGENCE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_JSON_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    target: OptimizationTarget
    optimizer: str
    objective: str
    max_iterations: int
    convergence_threshold: float
    options_json: str
    caller_session_id: str
    def __init__(self, session_id: _Optional[str] = ..., target: _Optional[_Union[OptimizationTarget, _Mapping]] = ..., optimizer: _Optional[str] = ..., objective: _Optional[str] = ..., max_iterations: _Optional[int] = ..., convergence_threshold: _Optional[float] = ..., options_json: _Optional[str] = ..., caller_session_id: _Optional[str] = ...) -> None: ...

class StartOptimizationResponse(_message.Message):
    __slots__ = ("optimization_id",)
    OPTIMIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    optimization_id: str
    def __init__(self, optimization_id: _Optional[str] = ...) -> None: ...

class OptimizationRequest(_message.Message):
    __slots__ = ("session_id", "target", "limit", "optimization_id", "since_ms")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    target: OptimizationTarget
    limit: int
    optimization_id: str
    since_ms: int
    def __init__(self, session_id: _Optional[str] = ..., target: _Optional[_Union[OptimizationTarget, _Mapping]] = ..., limit: _Optional[int] = ..., optimization_id: _Optional[str] = ..., since_ms: _Optional[int] = ...) -> None: ...

class OptimizationStatusResponse(_message.Message):
    __slots__ = ("status_json", "error")
    STATUS_JSON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    status_json: str
    error: _errors_pb2.ErrorDetail
    def __init__(self, status_json: _Optional[str] = ..., error: _Optional[_Union[_errors_pb2.ErrorDetail, _Mapping]] = ...) -> None: ...

class OptimizationHistoryResponse(_message.Message):
    __slots__ = ("history_json",)
    HISTORY_JSON_FIELD_NUMBER: _ClassVar[int]
    history_json: str
    def __init__(self, history_json: _Optional[str] = ...) -> None: ...

class RegisterPythonOptimizerRequest(_message.Message):
    __slots__ = ("session_id", "name", "class_path", "caller_session_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CLASS_PATH_FIELD_NUMBER: _ClassVar[int]
    CALLER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    name: str
    class_path: str
    caller_session_id: str
    def __init__(self, session_id: _Optional[str] = ..., name: _Optional[str] = ..., class_path: _Optional[str] = ..., caller_session_id: _Optional[str] = ...) -> None: ...

class RegisterPythonOptimizerResponse(_message.Message):
    __slots__ = ("name", "class_path")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CLASS_PATH_FIELD_NUMBER: _ClassVar[int]
    name: str
    class_path: str
    def __init__(self, name: _Optional[str] = ..., class_path: _Optional[str] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs_json",)
    RUNS_JSON_FIELD_NUMBER: _ClassVar[int]
    runs_json: str
    def __init__(self, runs_json: _Optional[str] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("session_id", "run_id", "offset", "limit")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    run_id: str
    offset: int
    limit: int
    def __init__(self, session_id: _Optional[str] = ..., run_id: _Optional[str] = ..., offset: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class GetRunResponse(_message.Message):
    __slots__ = ("run_json", "trials_json")
    RUN_JSON_FIELD_NUMBER: _ClassVar[int]
    TRIALS_JSON_FIELD_NUMBER: _ClassVar[int]
    run_json: str
    trials_json: str
    def __init__(self, run_json: _Optional[str] = ..., trials_json: _Optional[str] = ...) -> None: ...
