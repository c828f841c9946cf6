"""The Python error hierarchy against the shared table testdata/errors.json."""

from __future__ import annotations

import asyncio
import builtins
import inspect
import json
import pickle
from pathlib import Path
from typing import Any
from collections.abc import Callable

import grpc
import pytest

from dspy_bridge import errors
from dspy_bridge._gen.dspy_bridge.v1 import errors_pb2
from dspy_bridge.errors import (
    MAX_TRACEBACK_FRAMES,
    BridgeError,
    Code,
    InvalidArgumentError,
    NotFoundError,
    error_from_detail,
    error_to_detail,
    translate_errors,
)

TABLE = json.loads((Path(__file__).resolve().parents[2] / "testdata" / "errors.json").read_text())
ROWS: list[dict[str, Any]] = TABLE["errors"]
CLASS_ROWS = [r for r in ROWS if r["python_class"] is not None]
SAMPLE: dict[str, Any] = {"string": "sample", "integer": 7, "json": 2.5}


def _row_id(row: dict[str, Any]) -> str:
    return str(row["reason"])


def _all_subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _all_subclasses(sub)
    return found


def _builtin(name: str) -> type[BaseException]:
    obj: Any = asyncio if name.startswith("asyncio.") else grpc if name.startswith("grpc.") else builtins
    exc_type = getattr(obj, name.removeprefix("asyncio.").removeprefix("grpc."))
    assert isinstance(exc_type, type) and issubclass(exc_type, BaseException)
    return exc_type


# --- the table itself ---------------------------------------------------------------------


def test_table_codes_match_code_enum() -> None:
    assert {c.name: c.value for c in Code} == TABLE["codes"]
    for row in ROWS:
        assert Code[row["code_name"]] == row["code"], row["reason"]


def test_table_reasons_are_unique_snake_case() -> None:
    reasons = [r["reason"] for r in ROWS]
    assert len(reasons) == len(set(reasons))
    for reason in reasons:
        assert reason.replace("_", "").isalpha() and reason == reason.lower(), reason


@pytest.mark.parametrize("row", CLASS_ROWS, ids=_row_id)
def test_every_row_has_a_class_with_its_code_and_reason(row: dict[str, Any]) -> None:
    cls = getattr(errors, row["python_class"])
    assert issubclass(cls, BridgeError)
    assert cls.code == row["code"] and cls.reason == row["reason"]
    assert errors.ERRORS_BY_REASON[row["reason"]] is cls
    err = cls("boom")
    assert (err.code, err.reason, err.message, str(err), err.details) == (
        row["code"],
        row["reason"],
        "boom",
        "boom",
        {},
    )
    for base in row["python_bases"]:
        assert issubclass(cls, _builtin(base)), f"{cls.__name__} should also be a {base}"
        with pytest.raises(_builtin(base)):
            raise cls("caught by the builtin")


def test_every_bridge_error_subclass_is_in_the_table_and_vice_versa() -> None:
    # httpx-style "all mapped": adding a class without a row (or a row without a class) fails.
    defined = {cls.__name__ for cls in _all_subclasses(BridgeError) if cls.__module__ == errors.__name__}
    in_table = {r["python_class"] for r in CLASS_ROWS}
    assert defined == in_table
    assert set(errors.ERRORS_BY_REASON) == {r["reason"] for r in CLASS_ROWS}
    # python_error is the base class's own reason, the fallback for everything unmapped.
    fallback = [r for r in ROWS if r["python_class"] is None]
    assert [r["reason"] for r in fallback] == [BridgeError.reason] == ["python_error"]
    assert BridgeError.code == fallback[0]["code"]


def test_public_api_is_exactly_dunder_all() -> None:
    public = {
        name
        for name, value in vars(errors).items()
        if not name.startswith("_")
        and getattr(value, "__module__", errors.__name__) == errors.__name__
        and not inspect.ismodule(value)
        and name not in {"annotations", "Any", "ClassVar", "NamedTuple", "Mapping", "MappingProxyType", "TracebackType"}
    }
    assert set(errors.__all__) == public
    for name in errors.__all__:
        assert hasattr(errors, name)


def test_fixed_code_and_reason_cannot_be_overridden_on_subclasses() -> None:
    with pytest.raises(TypeError):
        errors.QueueFullError("x", reason="rate_limited")
    with pytest.raises(TypeError):
        errors.QueueFullError("x", code=Code.INTERNAL)
    custom = BridgeError("x", code=Code.DATA_LOSS, reason="disk_on_fire")
    assert (custom.code, custom.reason) == (15, "disk_on_fire")
    assert (BridgeError.code, BridgeError.reason) == (2, "python_error")  # class untouched


def test_invalid_argument_parameter_and_builtin_str() -> None:
    err = InvalidArgumentError("temperature must be >= 0", "temperature")
    assert err.parameter == "temperature" and err.details == {"parameter": "temperature"}
    assert isinstance(err, ValueError)
    assert InvalidArgumentError("no param").parameter is None
    # KeyError would print "'x'"; the bridge message must read as written.
    assert str(NotFoundError("variable 'x' not found")) == "variable 'x' not found"


def test_errors_survive_pickling() -> None:
    err = pickle.loads(pickle.dumps(InvalidArgumentError("bad", "p")))
    assert type(err) is InvalidArgumentError and err.message == "bad" and err.parameter == "p"


# --- builtins raised for real -------------------------------------------------------------


def _raise_from_here(exc: BaseException) -> None:
    raise exc


_RAISE_LINE = _raise_from_here.__code__.co_firstlineno + 1


def _capture(fn: Callable[[], object]) -> BaseException:
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - CancelledError included on purpose
        return exc
    raise AssertionError("did not raise")


def _assert_frame(detail: errors_pb2.ErrorDetail, name: str, lineno: int, line_part: str) -> None:
    frames = [(f.name, f.lineno) for f in detail.traceback]
    assert (name, lineno) in frames, frames
    frame = next(f for f in detail.traceback if (f.name, f.lineno) == (name, lineno))
    assert frame.filename == __file__
    assert line_part in frame.line


BUILTIN_ROWS = [(b, r) for r in ROWS for b in r["python_builtins"]]


@pytest.mark.parametrize("builtin_name,row", BUILTIN_ROWS, ids=[b for b, _ in BUILTIN_ROWS])
def test_every_listed_builtin_maps_to_its_row(builtin_name: str, row: dict[str, Any]) -> None:
    exc_type = _builtin(builtin_name)
    exc = _capture(lambda: _raise_from_here(exc_type("went wrong")))
    detail = error_to_detail(exc)
    assert (detail.code, detail.reason) == (row["code"], row["reason"])
    assert detail.message == str(exc)
    expected_type = (
        exc_type.__qualname__ if exc_type.__module__ == "builtins" else f"{exc_type.__module__}.{exc_type.__qualname__}"
    )
    assert detail.python_type == expected_type
    _assert_frame(detail, "_raise_from_here", _RAISE_LINE, "raise exc")
    assert detail.traceback[-1].name == "_raise_from_here"  # innermost frame last, as Python prints


def test_real_key_error_from_dict_lookup() -> None:
    def lookup() -> object:
        return {}["missing"]

    detail = error_to_detail(_capture(lookup))
    assert (detail.code, detail.reason, detail.python_type) == (2, "python_error", "KeyError")
    assert detail.message == "'missing'"
    _assert_frame(detail, "lookup", lookup.__code__.co_firstlineno + 1, '{}["missing"]')


def test_real_zero_division_and_chained_user_error() -> None:
    def divide() -> float:
        return 1 / 0

    detail = error_to_detail(_capture(divide))
    assert (detail.reason, detail.python_type, detail.message) == (
        "python_error",
        "ZeroDivisionError",
        "division by zero",
    )

    class ModelBlewUp(Exception):
        pass

    def user_code() -> None:
        raise ModelBlewUp("nope")

    detail = error_to_detail(_capture(user_code))
    assert detail.reason == "python_error"
    assert detail.python_type == f"{__name__}.test_real_zero_division_and_chained_user_error.<locals>.ModelBlewUp"


async def test_real_asyncio_wait_for_timeout() -> None:
    async def slow() -> None:
        await asyncio.wait_for(asyncio.sleep(10), timeout=0.001)

    line = inspect.getsourcelines(slow)[1] + 1
    try:
        await slow()
    except (TimeoutError, asyncio.TimeoutError) as exc:
        detail = error_to_detail(exc)
    assert (detail.code, detail.reason) == (Code.DEADLINE_EXCEEDED, "timeout")
    _assert_frame(detail, "slow", line, "asyncio.wait_for")


async def test_real_task_cancellation() -> None:
    started = asyncio.Event()

    async def worker() -> None:
        started.set()
        await asyncio.sleep(10)

    line = inspect.getsourcelines(worker)[1] + 2
    task = asyncio.ensure_future(worker())
    await started.wait()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError as exc:
        detail = error_to_detail(exc)
    assert (detail.code, detail.reason) == (Code.CANCELLED, "cancelled")
    assert detail.python_type == "asyncio.exceptions.CancelledError"
    _assert_frame(detail, "worker", line, "asyncio.sleep(10)")


def test_bridge_error_keeps_code_reason_details_and_own_frames() -> None:
    def handler() -> None:
        raise errors.PayloadTooLargeError("too big", details={"size": 10, "limit": 5})

    detail = error_to_detail(_capture(handler))
    assert (detail.code, detail.reason, detail.message) == (8, "payload_too_large", "too big")
    assert json.loads(detail.details_json) == {"size": 10, "limit": 5}
    assert detail.python_type == "dspy_bridge.errors.PayloadTooLargeError"
    _assert_frame(detail, "handler", handler.__code__.co_firstlineno + 1, "PayloadTooLargeError")


def test_traceback_is_capped_to_innermost_frames() -> None:
    depth = MAX_TRACEBACK_FRAMES + 30

    def recurse(n: int) -> None:
        if n == 0:
            raise RuntimeError("bottom")
        recurse(n - 1)

    detail = error_to_detail(_capture(lambda: recurse(depth)))
    assert len(detail.traceback) == MAX_TRACEBACK_FRAMES
    assert detail.traceback[-1].name == "recurse" and "raise RuntimeError" in detail.traceback[-1].line


def test_unserializable_details_do_not_break_reporting() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    detail = error_to_detail(BridgeError("x", details=loop))
    assert "unserializable_details" in json.loads(detail.details_json)
    assert error_to_detail(BridgeError("x", details={"when": object()})).details_json.startswith('{"when": "<object')


# --- from the wire --------------------------------------------------------------------------


def _detail_for(row: dict[str, Any]) -> errors_pb2.ErrorDetail:
    details = {key: SAMPLE[kind] for key, kind in row["details"].items()}
    details["request_id"] = "r-1"
    return errors_pb2.ErrorDetail(
        code=row["code"],
        reason=row["reason"],
        message=f"{row['reason']} happened",
        python_type="some.module.Origin",
        traceback=[errors_pb2.TracebackFrame(filename="/w/x.py", lineno=3, name="f", line="raise Origin()")],
        details_json=json.dumps(details),
    )


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_error_from_detail_for_every_row(row: dict[str, Any]) -> None:
    detail = _detail_for(row)
    err = error_from_detail(detail)
    if row["python_class"] is None:
        assert type(err) is BridgeError
    else:
        assert type(err) is getattr(errors, row["python_class"])
    assert (err.code, err.reason, err.message) == (row["code"], row["reason"], detail.message)
    assert err.details == json.loads(detail.details_json)
    assert err.python_type == "some.module.Origin"
    assert err.python_traceback == (errors.TracebackFrame("/w/x.py", 3, "f", "raise Origin()"),)
    # Forwarding a received error sends the original description, not this process's.
    assert error_to_detail(err) == detail


def test_error_from_detail_sets_typed_field() -> None:
    row = next(r for r in ROWS if r["reason"] == "invalid_argument")
    err = error_from_detail(_detail_for(row))
    assert isinstance(err, InvalidArgumentError) and err.parameter == SAMPLE["string"]


def test_error_from_detail_unknown_reason_and_bad_details() -> None:
    detail = errors_pb2.ErrorDetail(code=15, reason="from_the_future", message="?", details_json="[1, 2]")
    err = error_from_detail(detail)
    assert type(err) is BridgeError
    assert (err.code, err.reason, err.message, err.python_type) == (15, "from_the_future", "?", None)
    assert err.details == {"details_json": "[1, 2]"}
    assert error_from_detail(errors_pb2.ErrorDetail(code=2, details_json="{oops")).details == {"details_json": "{oops"}
    assert error_from_detail(errors_pb2.ErrorDetail(code=2)).reason == "python_error"


def test_known_reason_wins_over_a_mismatched_code() -> None:
    err = error_from_detail(errors_pb2.ErrorDetail(code=13, reason="not_found", message="m"))
    assert type(err) is NotFoundError and err.code == Code.NOT_FOUND


# --- translate_errors -----------------------------------------------------------------------


def test_translate_errors_sync() -> None:
    original = ValueError("bad value")
    with pytest.raises(BridgeError) as info:
        with translate_errors():
            raise original
    err = info.value
    assert (err.code, err.reason, err.message, err.python_type) == (2, "python_error", "bad value", "ValueError")
    assert err.__cause__ is original
    assert err.python_traceback[-1].name == "test_translate_errors_sync"
    assert error_to_detail(err).python_type == "ValueError"  # the original, not the wrapper

    with pytest.raises(errors.BridgeTimeoutError) as timeout_info:
        with translate_errors():
            raise TimeoutError("slow")
    assert isinstance(timeout_info.value, TimeoutError)

    already = errors.QueueFullError("full")
    with pytest.raises(errors.QueueFullError) as same:
        with translate_errors():
            raise already
    assert same.value is already

    with translate_errors():
        pass  # no exception, nothing raised


async def test_translate_errors_async_and_cancellation_passes_through() -> None:
    with pytest.raises(errors.BridgeNotImplementedError) as info:
        async with translate_errors():
            await asyncio.sleep(0)
            raise NotImplementedError("later")
    assert info.value.message == "later" and isinstance(info.value, NotImplementedError)

    async def cancelled_inside() -> None:
        async with translate_errors():
            await asyncio.sleep(10)

    task = asyncio.ensure_future(cancelled_inside())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


def test_variable_errors_are_invalid_arguments_with_typed_details() -> None:
    err = errors.VariableTypeError("x must be a float", variable="x", type="float", got="str")
    assert isinstance(err, InvalidArgumentError) and isinstance(err, TypeError) and isinstance(err, ValueError)
    assert (err.variable, err.type, err.got, err.code) == ("x", "float", "str", 3)
    cv = errors.ConstraintViolationError(
        "t = 3 violates max = 2", variable="t", type="integer", constraint="max", limit=2
    )
    assert isinstance(cv, InvalidArgumentError) and (cv.constraint, cv.limit) == ("max", 2)
    assert json.loads(error_to_detail(cv).details_json) == {
        "variable": "t",
        "type": "integer",
        "constraint": "max",
        "limit": 2,
    }


@pytest.mark.parametrize("row", CLASS_ROWS, ids=_row_id)
def test_retryable_defaults_to_the_table_and_details_override_it(row: dict[str, Any]) -> None:
    cls = getattr(errors, row["python_class"])
    assert cls.retryable_by_default is row["retryable"]
    assert cls("x").retryable is row["retryable"]
    assert cls("x", details={"retryable": not row["retryable"]}).retryable is (not row["retryable"])
    assert cls("x", details={"retryable": "yes"}).retryable is row["retryable"]  # only a bool counts
    # ... and it survives the wire both ways.
    sent = error_from_detail(error_to_detail(cls("x", details={"retryable": not row["retryable"]})))
    assert type(sent) is cls and sent.retryable is (not row["retryable"])


def test_a_plain_python_error_is_not_retryable() -> None:
    assert error_from_detail(error_to_detail(ValueError("bug"))).retryable is False


def test_registered_translators_type_foreign_exceptions_at_the_boundary() -> None:
    class ProviderBusy(Exception):
        pass

    def translate(exc: BaseException) -> BridgeError | None:
        return (
            errors.RateLimitError("busy", details={"retry_after_ms": 1500}) if isinstance(exc, ProviderBusy) else None
        )

    errors.register_translator(translate)
    try:
        try:
            raise ProviderBusy("slow down")
        except ProviderBusy as exc:
            detail = error_to_detail(exc)
        assert detail.reason == "rate_limited"
        assert detail.python_type.endswith("ProviderBusy")  # the origin is kept
        assert (
            detail.traceback
            and detail.traceback[-1].name == "test_registered_translators_type_foreign_exceptions_at_the_boundary"
        )
        err = error_from_detail(detail)
        assert isinstance(err, errors.RateLimitError) and err.retry_after_ms == 1500 and err.retryable
        assert error_to_detail(ValueError("other")).reason == "python_error"
    finally:
        errors._translators.remove(translate)


# --- DSPex's gRPC view: e.code(), e.details(), except grpc.RpcError ----------------------


@pytest.mark.parametrize("row", CLASS_ROWS, ids=_row_id)
def test_every_error_answers_code_and_details_like_a_grpc_error(row: dict[str, Any]) -> None:
    err = getattr(errors, row["python_class"])("went wrong")
    assert err.code() == grpc.StatusCode[row["code_name"]]
    assert err.details() == "went wrong"
    # ... while code and details stay the number and the dict
    assert err.code == row["code"] and isinstance(err.code, int)
    assert isinstance(err.details, dict) and err.details == {}
    assert isinstance(err, grpc.RpcError) == (row["code_name"] == "UNAVAILABLE")


def test_a_transport_failure_is_caught_by_the_seeds_retry_branch() -> None:
    caught = []
    for attempt in range(3):
        try:
            raise errors.UnavailableError("connection refused")
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNAVAILABLE and attempt < 2:
                caught.append(attempt)
                continue
            assert isinstance(e, errors.BridgeError) and e.retryable and e.reason == "unavailable"
    assert caught == [0, 1]


def test_base_class_codes_become_code_members_and_details_track_the_message() -> None:
    err = BridgeError("x", code=14, reason="something_new")
    assert err.code is Code.UNAVAILABLE and err.code() == grpc.StatusCode.UNAVAILABLE
    assert BridgeError("y", code=99, reason="from_the_future").code == 99
    err.message = "changed"
    err.details = {"k": 1}
    assert err.details() == "changed" and err.details == {"k": 1}
    copy = pickle.loads(pickle.dumps(errors.WorkerCrashedError("gone", details={"worker_id": "w1"})))
    assert copy.details == {"worker_id": "w1"} and copy.details() == "gone" and isinstance(copy, grpc.RpcError)
