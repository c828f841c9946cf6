"""Errors that cross the bridge, mapped to gRPC status codes and stable ``reason`` strings.

The table of record is ``testdata/errors.json`` (read by both test suites); the TypeScript
twin lives in ``ts/src/errors/``. The tree::

    Exception
    └── BridgeError                       code / reason depend on the row (base: 2 UNKNOWN, "python_error")
        ├── InvalidArgumentError          3  invalid_argument     (also ValueError)
        │   ├── VariableTypeError         3  type_mismatch        (also TypeError)
        │   └── ConstraintViolationError  3  constraint_violation
        ├── UnknownCommandError           5  unknown_command
        ├── NotFoundError                 5  not_found            (also KeyError)
        ├── AlreadyExistsError            6  already_exists
        ├── BridgePermissionError         7  permission_denied    (also PermissionError)
        ├── AuthenticationError          16  unauthenticated
        ├── BridgeTimeoutError            4  timeout              (also TimeoutError)
        ├── BridgeCancelledError          1  cancelled
        ├── QueueFullError                8  queue_full
        ├── PayloadTooLargeError          8  payload_too_large
        ├── RateLimitError                8  rate_limited
        ├── VersionConflictError         10  version_conflict
        ├── CompactedError               11  compacted
        ├── FailedPreconditionError       9  failed_precondition
        ├── BridgeNotImplementedError    12  not_implemented      (also NotImplementedError)
        ├── ProtocolError                13  protocol_error
        ├── InternalError                13  internal
        ├── WorkerCrashedError           14  worker_crashed
        ├── CrashLoopError               14  crash_loop
        ├── WorkerStartError             14  worker_start_failed
        ├── BridgeClosedError            14  bridge_closed
        ├── StoreUnavailableError        14  store_unavailable
        ├── UnavailableError             14  unavailable          (also grpc.RpcError)
        ├── LMError                       2  lm_error
        └── ParseError                    2  parse_error

``python_error`` (2 UNKNOWN) has no class of its own: any exception without a more specific
mapping becomes a plain ``BridgeError`` whose ``reason`` is ``"python_error"`` and whose
``python_type`` / ``python_traceback`` describe the original exception.

Builtin co-parents exist so that callers keep catching what they would naturally catch
(``except ValueError`` catches ``InvalidArgumentError``). The reverse is deliberately narrow:
only these builtins get a specific reason when raised by plain code — ``asyncio.CancelledError``
→ cancelled, ``TimeoutError`` / ``asyncio.TimeoutError`` → timeout, ``NotImplementedError`` →
not_implemented, ``PermissionError`` → permission_denied. A bare ``ValueError`` or
``KeyError`` is a bug in user code, so it stays ``python_error``.

Transport failures — every error of code 14 UNAVAILABLE: the host unreachable
(``UnavailableError``), a worker crashed, the bridge or the store unavailable — are also
``grpc.RpcError``, as a gRPC client's would be, and every error answers ``code()`` (the
``grpc.StatusCode``) and ``details()`` (the message) like one: ``except grpc.RpcError as e:
if e.code() == grpc.StatusCode.UNAVAILABLE: retry`` works. ``err.code`` (an ``int``
``Code``) and ``err.details`` (a ``dict``) stay what they are.

Translate only at the boundary: ``with translate_errors():`` (or ``async with``) around a
handler, then ``error_to_detail(exc)`` when building the reply.
"""

from __future__ import annotations

import asyncio
import enum
import json
import traceback as _tb
from collections.abc import Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import Any, ClassVar, NamedTuple

from dspy_bridge._gen.dspy_bridge.v1 import errors_pb2

try:  # grpcio is a dependency; the fallback keeps this module importable without it
    from grpc import RpcError as _RpcError
    from grpc import StatusCode as _StatusCode
except ImportError:  # pragma: no cover

    class _RpcError(Exception):  # type: ignore[no-redef]
        """Stands in for grpc.RpcError when grpcio is not installed."""

    _StatusCode = None  # type: ignore[assignment]

__all__ = [
    "AlreadyExistsError",
    "AuthenticationError",
    "BridgeCancelledError",
    "BridgeClosedError",
    "StoreUnavailableError",
    "BridgeError",
    "BridgeNotImplementedError",
    "BridgePermissionError",
    "BridgeTimeoutError",
    "Code",
    "CompactedError",
    "ConstraintViolationError",
    "CrashLoopError",
    "ERRORS_BY_REASON",
    "ErrorDetails",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "LMError",
    "MAX_TRACEBACK_FRAMES",
    "NotFoundError",
    "ParseError",
    "PayloadTooLargeError",
    "ProtocolError",
    "QueueFullError",
    "RateLimitError",
    "TracebackFrame",
    "UnavailableError",
    "UnknownCommandError",
    "VariableTypeError",
    "VersionConflictError",
    "WorkerCrashedError",
    "WorkerStartError",
    "as_bridge_error",
    "error_from_detail",
    "error_to_detail",
    "register_translator",
    "translate_errors",
    "translate_foreign",
]

MAX_TRACEBACK_FRAMES = 50
"""error_to_detail keeps only the innermost frames; deep recursion must not bloat a reply."""


class Code(enum.IntEnum):
    """gRPC status codes; names match ``grpc.StatusCode`` so ``grpc.StatusCode[Code(n).name]`` works."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16

    def __call__(self) -> Any:
        """``grpc.StatusCode`` of this code, so ``err.code()`` reads like a gRPC error's."""
        if _StatusCode is None:  # pragma: no cover
            return self
        return _StatusCode[self.name]


class ErrorDetails(dict):  # type: ignore[type-arg]
    """``BridgeError.details``: a plain ``dict`` of facts that, called, returns the message, so
    ``err.details()`` reads like a gRPC error's (its status details)."""

    __slots__ = ("_message",)

    def __init__(self, values: Mapping[str, Any] | None = None, message: str = "") -> None:
        super().__init__(values or {})
        self._message = message

    def __call__(self) -> str:
        return self._message

    def __reduce__(self) -> Any:
        return (ErrorDetails, (dict(self), self._message))


class TracebackFrame(NamedTuple):
    """One Python stack frame, as carried in ``ErrorDetail.traceback``."""

    filename: str
    lineno: int
    name: str
    line: str


class BridgeError(Exception):
    """Base of every bridge error: a gRPC ``code``, a stable ``reason``, a ``message`` and ``details``.

    ``code`` and ``reason`` are fixed per subclass. Only the base class accepts them as
    arguments, for reasons that have no class here (``python_error``, or a reason added by a
    newer peer). ``python_type`` / ``python_traceback`` are set when the error describes
    another exception (received over the wire, or translated from a builtin); they are then
    forwarded unchanged by :func:`error_to_detail` instead of this object's own type and frames.
    """

    code: ClassVar[int] = Code.UNKNOWN
    reason: ClassVar[str] = "python_error"
    retryable_by_default: ClassVar[bool] = False
    """The table's answer for this reason to "may the same request succeed later?"."""

    message: str
    python_type: str | None
    python_traceback: tuple[TracebackFrame, ...]

    def __init__(
        self,
        message: str = "",
        *,
        details: Mapping[str, Any] | None = None,
        code: int | None = None,
        reason: str | None = None,
        python_type: str | None = None,
        python_traceback: tuple[TracebackFrame, ...] = (),
    ) -> None:
        super().__init__(message)
        cls = type(self)
        if cls is not BridgeError and (
            (code is not None and code != cls.code) or (reason is not None and reason != cls.reason)
        ):
            raise TypeError(f"{cls.__name__} has a fixed code/reason ({cls.code}, {cls.reason!r})")
        if code is not None:
            try:
                code = Code(code)
            except ValueError:
                pass  # a code from a newer peer: kept as the number
            self.code = code  # type: ignore[misc]  # instance override, base class only
        if reason is not None:
            self.reason = reason  # type: ignore[misc]
        self.message = message
        self._details = ErrorDetails(details, message)
        self.python_type = python_type
        self.python_traceback = tuple(python_traceback)

    def __str__(self) -> str:
        # KeyError/OSError co-parents would otherwise repr-quote or reformat the message.
        return self.message

    @property
    def details(self) -> ErrorDetails:  # type: ignore[override]
        """The facts (a ``dict``); ``details()`` is the message, as on a ``grpc.RpcError``."""
        d = self._details
        d._message = self.message
        return d

    @details.setter
    def details(self, value: Mapping[str, Any]) -> None:
        self._details = value if isinstance(value, ErrorDetails) else ErrorDetails(value, self.message)

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again later may succeed: ``details["retryable"]``
        when the raiser knew better (an LM error from a 503 is, from a 400 is not), else the
        class's default from the error table."""
        value = self.details.get("retryable")
        return value if isinstance(value, bool) else self.retryable_by_default


class InvalidArgumentError(BridgeError, ValueError):
    """A request argument is malformed or out of range; ``parameter`` names it when known."""

    code = Code.INVALID_ARGUMENT
    reason = "invalid_argument"

    def __init__(self, message: str = "", parameter: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        if parameter is not None:
            self.details["parameter"] = parameter

    @property
    def parameter(self) -> str | None:
        value = self.details.get("parameter")
        return value if isinstance(value, str) else None


def _set_known(details: dict[str, Any], **values: Any) -> None:
    for key, value in values.items():
        if value is not None:
            details[key] = value


class VariableTypeError(InvalidArgumentError, TypeError):
    """A value is not of its variable's type. Also a ``TypeError`` (and, as an
    InvalidArgumentError, a ``ValueError``). Details: ``variable``, ``type``, ``got``."""

    code = Code.INVALID_ARGUMENT
    reason = "type_mismatch"

    def __init__(
        self,
        message: str = "",
        *,
        variable: str | None = None,
        type: str | None = None,  # noqa: A002 - mirrors details["type"]
        got: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        _set_known(self.details, variable=variable, type=type, got=got)

    @property
    def variable(self) -> str | None:
        value = self.details.get("variable")
        return value if isinstance(value, str) else None

    @property
    def type(self) -> str | None:
        """The variable's type name (``details["type"]``)."""
        value = self.details.get("type")
        return value if isinstance(value, str) else None

    @property
    def got(self) -> str | None:
        """The type name of the value that was given (``details["got"]``)."""
        value = self.details.get("got")
        return value if isinstance(value, str) else None


class ConstraintViolationError(InvalidArgumentError):
    """A value has its variable's type but breaks a constraint. Details: ``variable``, ``type``,
    ``constraint`` (its name, e.g. ``"max"``) and ``limit`` (the constraint's value)."""

    code = Code.INVALID_ARGUMENT
    reason = "constraint_violation"

    def __init__(
        self,
        message: str = "",
        *,
        variable: str | None = None,
        type: str | None = None,  # noqa: A002 - mirrors details["type"]
        constraint: str | None = None,
        limit: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        _set_known(self.details, variable=variable, type=type, constraint=constraint, limit=limit)

    @property
    def variable(self) -> str | None:
        value = self.details.get("variable")
        return value if isinstance(value, str) else None

    @property
    def type(self) -> str | None:
        """The variable's type name (``details["type"]``)."""
        value = self.details.get("type")
        return value if isinstance(value, str) else None

    @property
    def constraint(self) -> str | None:
        value = self.details.get("constraint")
        return value if isinstance(value, str) else None

    @property
    def limit(self) -> Any:
        """The constraint's value (any JSON value); None if unknown."""
        return self.details.get("limit")


class UnknownCommandError(BridgeError):
    """The worker has no handler for the requested command."""

    code = Code.NOT_FOUND
    reason = "unknown_command"


class NotFoundError(BridgeError, KeyError):
    """A named resource does not exist. A KeyError too, so mapping-style lookups behave as usual."""

    code = Code.NOT_FOUND
    reason = "not_found"


class AlreadyExistsError(BridgeError):
    code = Code.ALREADY_EXISTS
    reason = "already_exists"


class BridgePermissionError(BridgeError, PermissionError):
    code = Code.PERMISSION_DENIED
    reason = "permission_denied"


class AuthenticationError(BridgeError):
    """Missing or invalid credentials: the bridge's token, or an LM provider refusing the API
    key (HTTP 401) or the request (403), with ``status`` set."""

    code = Code.UNAUTHENTICATED
    reason = "unauthenticated"

    @property
    def status(self) -> int | None:
        """The LM provider's HTTP status, when the error came from one (``details["status"]``)."""
        value = self.details.get("status")
        return value if isinstance(value, int) else None


class BridgeTimeoutError(BridgeError, TimeoutError):
    code = Code.DEADLINE_EXCEEDED
    reason = "timeout"
    retryable_by_default = True


class BridgeCancelledError(BridgeError):
    """Cancellation reported as a value. Not an ``asyncio.CancelledError``: raising this must
    not be mistaken for the current task being cancelled."""

    code = Code.CANCELLED
    reason = "cancelled"


class QueueFullError(BridgeError):
    code = Code.RESOURCE_EXHAUSTED
    reason = "queue_full"
    retryable_by_default = True


class PayloadTooLargeError(BridgeError):
    code = Code.RESOURCE_EXHAUSTED
    reason = "payload_too_large"


class RateLimitError(BridgeError):
    """A rate limit (the bridge's, or an LM provider's HTTP 429 with ``status`` set)."""

    code = Code.RESOURCE_EXHAUSTED
    reason = "rate_limited"
    retryable_by_default = True

    @property
    def retry_after_ms(self) -> int | None:
        """How long the provider asked to wait (its Retry-After), when it said."""
        value = self.details.get("retry_after_ms")
        return value if isinstance(value, int) else None

    @property
    def status(self) -> int | None:
        """The LM provider's HTTP status, when the error came from one (``details["status"]``)."""
        value = self.details.get("status")
        return value if isinstance(value, int) else None


class VersionConflictError(BridgeError):
    code = Code.ABORTED
    reason = "version_conflict"


class CompactedError(BridgeError):
    code = Code.OUT_OF_RANGE
    reason = "compacted"


class FailedPreconditionError(BridgeError):
    code = Code.FAILED_PRECONDITION
    reason = "failed_precondition"


class BridgeNotImplementedError(BridgeError, NotImplementedError):
    code = Code.UNIMPLEMENTED
    reason = "not_implemented"


class ProtocolError(BridgeError):
    code = Code.INTERNAL
    reason = "protocol_error"


class InternalError(BridgeError):
    code = Code.INTERNAL
    reason = "internal"


class WorkerCrashedError(BridgeError, _RpcError):
    code = Code.UNAVAILABLE
    reason = "worker_crashed"
    retryable_by_default = True


class CrashLoopError(BridgeError, _RpcError):
    code = Code.UNAVAILABLE
    reason = "crash_loop"


class WorkerStartError(BridgeError, _RpcError):
    code = Code.UNAVAILABLE
    reason = "worker_start_failed"


class BridgeClosedError(BridgeError, _RpcError):
    code = Code.UNAVAILABLE
    reason = "bridge_closed"


class StoreUnavailableError(BridgeError, _RpcError):
    """The host's durable store (Redis, SQLite) could not take the request; it was not applied, unless
    ``details["outcome"]`` is ``"unknown"`` (a commit was sent and Redis never said whether it ran) or
    ``"applied"`` (it committed, but the host could not read back its result). Retryable."""

    code = Code.UNAVAILABLE
    reason = "store_unavailable"
    retryable_by_default = True


class UnavailableError(BridgeError, _RpcError):
    """The host could not be reached, or the connection to it broke (refused, reset, no such
    socket): a transport failure, as gRPC's ``UNAVAILABLE``. A call in flight may or may not
    have been applied. Retryable. Also a ``grpc.RpcError``."""

    code = Code.UNAVAILABLE
    reason = "unavailable"
    retryable_by_default = True


class LMError(BridgeError):
    """A language-model call failed: a provider error, a bad response, a transport failure,
    or no LM configured. ``retryable`` says whether the same call may succeed later."""

    code = Code.UNKNOWN
    reason = "lm_error"

    @property
    def status(self) -> int | None:
        """The LM provider's HTTP status, when the error came from one (``details["status"]``)."""
        value = self.details.get("status")
        return value if isinstance(value, int) else None


class ParseError(BridgeError):
    code = Code.UNKNOWN
    reason = "parse_error"


ERRORS_BY_REASON: Mapping[str, type[BridgeError]] = MappingProxyType(
    {
        cls.reason: cls
        for cls in (
            InvalidArgumentError,
            VariableTypeError,
            ConstraintViolationError,
            UnknownCommandError,
            NotFoundError,
            AlreadyExistsError,
            BridgePermissionError,
            AuthenticationError,
            BridgeTimeoutError,
            BridgeCancelledError,
            QueueFullError,
            PayloadTooLargeError,
            RateLimitError,
            VersionConflictError,
            CompactedError,
            FailedPreconditionError,
            BridgeNotImplementedError,
            ProtocolError,
            InternalError,
            WorkerCrashedError,
            CrashLoopError,
            WorkerStartError,
            BridgeClosedError,
            StoreUnavailableError,
            UnavailableError,
            LMError,
            ParseError,
        )
    }
)
"""reason → class for every reason that has a Python class (all but ``python_error``)."""

# Order matters: asyncio.TimeoutError is TimeoutError on 3.11+, a separate class on 3.10.
_BUILTIN_MAP: tuple[tuple[tuple[type[BaseException], ...], type[BridgeError]], ...] = (
    ((asyncio.CancelledError,), BridgeCancelledError),
    ((TimeoutError, asyncio.TimeoutError), BridgeTimeoutError),
    ((NotImplementedError,), BridgeNotImplementedError),
    ((PermissionError,), BridgePermissionError),
)


def _qualified_type(exc: BaseException) -> str:
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _frames(tb: TracebackType | None) -> tuple[TracebackFrame, ...]:
    if tb is None:
        return ()
    return tuple(
        TracebackFrame(f.filename, f.lineno or 0, f.name, f.line or "")
        for f in _tb.extract_tb(tb, limit=-MAX_TRACEBACK_FRAMES)
    )


def _exception_frames(exc: BaseException) -> tuple[TracebackFrame, ...]:
    """The frames of ``exc``; for a cancellation, those of where the cancelled task stood too.
    Awaiting a cancelled task raises a new CancelledError on Python 3.10 (3.11 re-raises the
    task's own), whose frames stop at the ``await``; the one with the task's frames is its
    ``__context__``. Those come first, as they would in a chained traceback."""
    frames = _frames(exc.__traceback__)
    inner = exc.__context__
    if (
        isinstance(exc, asyncio.CancelledError)
        and isinstance(inner, asyncio.CancelledError)
        and inner.__traceback__ is not None
    ):
        frames = _frames(inner.__traceback__) + frames
    return frames


Translator = Callable[[BaseException], "BridgeError | None"]
_translators: list[Translator] = []


def register_translator(translator: Translator) -> None:
    """Teach the boundary a family of foreign exceptions: ``translator(exc)`` returns the
    BridgeError that describes ``exc``, or None when it is not one of its own. The DSPy
    integration registers its LM errors this way, so this module needs no knowledge of DSPy."""
    if translator not in _translators:
        _translators.append(translator)


def translate_foreign(exc: BaseException) -> BridgeError | None:
    """The registered translators' BridgeError for ``exc`` (with its origin), or None."""
    for translator in _translators:
        err = translator(exc)
        if err is not None:
            if err.python_type is None:
                err.python_type = _qualified_type(exc)
                err.python_traceback = _exception_frames(exc)
            return err
    return None


def as_bridge_error(exc: BaseException) -> BridgeError:
    """Return ``exc`` itself if it is a BridgeError, else the BridgeError that describes it.

    The result keeps the original's qualified type and traceback frames in ``python_type`` /
    ``python_traceback``, so :func:`error_to_detail` reports the original, not the wrapper.
    """
    if isinstance(exc, BridgeError):
        return exc
    if _translators:
        translated = translate_foreign(exc)
        if translated is not None:
            return translated
    origin = {"python_type": _qualified_type(exc), "python_traceback": _exception_frames(exc)}
    for builtins, cls in _BUILTIN_MAP:
        if isinstance(exc, builtins):
            return cls(str(exc), **origin)
    return BridgeError(str(exc), code=Code.UNKNOWN, reason="python_error", **origin)


def _dump_details(details: Mapping[str, Any]) -> str:
    if not details:
        return ""
    try:
        return json.dumps(details, default=str)
    except (TypeError, ValueError):  # circular structure, bad keys: never fail while reporting
        return json.dumps({"unserializable_details": repr(details)})


def error_to_detail(exc: BaseException) -> errors_pb2.ErrorDetail:
    """Describe any exception as an ``ErrorDetail`` (the mapping rules are in the module docstring)."""
    err = as_bridge_error(exc)
    if err.python_type is not None:
        python_type, frames = err.python_type, err.python_traceback
    else:
        python_type, frames = _qualified_type(err), _exception_frames(err)
    return errors_pb2.ErrorDetail(
        code=int(err.code),
        reason=err.reason,
        message=err.message,
        python_type=python_type,
        traceback=[errors_pb2.TracebackFrame(**f._asdict()) for f in frames[-MAX_TRACEBACK_FRAMES:]],
        details_json=_dump_details(err.details),
    )


def _load_details(text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"details_json": text}
    return value if isinstance(value, dict) else {"details_json": text}


def error_from_detail(detail: errors_pb2.ErrorDetail) -> BridgeError:
    """Rebuild an error from the wire: the class is chosen by ``reason`` (the code of a known
    reason is the class's own); ``python_error`` and unknown reasons give a plain BridgeError
    carrying the received code and reason."""
    kwargs: dict[str, Any] = {
        "details": _load_details(detail.details_json),
        "python_type": detail.python_type or None,
        "python_traceback": tuple(TracebackFrame(f.filename, f.lineno, f.name, f.line) for f in detail.traceback),
    }
    cls = ERRORS_BY_REASON.get(detail.reason)
    if cls is None:
        return BridgeError(detail.message, code=detail.code, reason=detail.reason or "python_error", **kwargs)
    return cls(detail.message, **kwargs)


class translate_errors:
    """Context manager (``with`` or ``async with``) that re-raises any ``Exception`` as a BridgeError.

    Bridge errors pass through untouched; others become :func:`as_bridge_error` of themselves,
    chained with ``from``. ``BaseException``s that are not ``Exception`` (notably
    ``asyncio.CancelledError``, ``KeyboardInterrupt``) propagate unchanged: converting them
    would break task cancellation. Catch them at the boundary and use :func:`error_to_detail`.
    """

    def __enter__(self) -> translate_errors:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None or isinstance(exc, BridgeError) or not isinstance(exc, Exception):
            return False
        raise as_bridge_error(exc) from exc

    async def __aenter__(self) -> translate_errors:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        return self.__exit__(exc_type, exc, tb)
