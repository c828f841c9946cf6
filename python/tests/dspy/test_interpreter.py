"""SubprocessInterpreter alone, then DSPy's real ProgramOfThought running on it with the
ScriptedLM writing the code (no Deno, no network)."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import dspy
import pytest
from dspy.primitives.code_interpreter import CodeExecutionError, CodeInterpreter, CodeInterpreterError, FinalOutput

from dspy_bridge.dspy import (
    SubprocessCrashError,
    SubprocessInterpreter,
    SubprocessTimeoutError,
    make_program_of_thought,
)
from dspy_bridge.testing import ScriptedLM

pytestmark = pytest.mark.filterwarnings("ignore:ProgramOfThought is deprecated:DeprecationWarning")


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.exists() and Path("/proc/self").exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead
        except (FileNotFoundError, ProcessLookupError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- the interpreter alone --------------------------------------------------------------------


def test_implements_dspy_code_interpreter_protocol() -> None:
    interp = SubprocessInterpreter()
    assert isinstance(interp, CodeInterpreter)
    assert interp.tools == {}


def test_values_in_and_out() -> None:
    with SubprocessInterpreter() as interp:
        assert interp.execute("x * 2 + len(name)", variables={"x": 20, "name": "ab"}) == 42
        assert interp.execute("print('hello'); print(1 + 1)") == "hello\n2\n"  # stdout when no value
        assert interp.execute("y = 5") == ""  # nothing printed, no trailing expression
        assert interp.execute("{'a': [1, 2.5, None, True]}") == {"a": [1, 2.5, None, True]}
        assert interp.execute("data['k'][1]", variables={"data": {"k": (7, 8)}}) == 8
        assert interp("'called'") == "called"


def test_submit_returns_final_output() -> None:
    with SubprocessInterpreter() as interp:
        assert interp.execute("SUBMIT({'answer': 6 * 7})\nprint('never')") == FinalOutput({"output": {"answer": 42}})
    typed = SubprocessInterpreter(output_fields=[{"name": "answer", "type": "int"}, {"name": "why"}])
    assert typed.execute("SUBMIT(3, 'because')") == FinalOutput({"answer": 3, "why": "because"})


def test_variables_persist_between_snippets_when_json_compatible() -> None:
    interp = SubprocessInterpreter()
    interp.execute("total = 10\nitems = [1, 2]\nimport math\ndef f(): pass")
    assert interp.execute("total + sum(items)") == 13
    with pytest.raises(CodeExecutionError, match="NameError"):
        interp.execute("f()")  # functions/modules do not survive: each snippet is a new process
    fresh = SubprocessInterpreter(persist_variables=False)
    fresh.execute("total = 1")
    with pytest.raises(CodeExecutionError, match="NameError"):
        fresh.execute("total")


def test_errors_in_the_forms_program_of_thought_handles() -> None:
    interp = SubprocessInterpreter()
    with pytest.raises(CodeExecutionError) as err:
        interp.execute("1 / 0")
    assert str(err.value) == "ZeroDivisionError: ['division by zero']"  # as dspy.PythonInterpreter words it
    with pytest.raises(SyntaxError, match="Invalid Python syntax"):
        interp.execute("def broken(:\n    pass")
    with pytest.raises(CodeExecutionError, match="ValueError"):
        interp.execute("raise ValueError('bad value')")
    with pytest.raises(CodeInterpreterError, match="Unsupported value type"):
        interp.execute("x", variables={"x": object()})
    with pytest.raises(CodeInterpreterError, match="Invalid variable name"):
        interp.execute("1", variables={"not valid": 1})
    assert interp.execute("'still works'") == "still works"


def test_timeout_kills_the_child_and_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    code = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "open(path, 'w').write(f'{os.getpid()} {child.pid}')\n"
        "time.sleep(60)\n"
    )
    interp = SubprocessInterpreter(timeout=1.0)
    start = time.monotonic()
    with pytest.raises(SubprocessTimeoutError, match="exceeded the 1 s limit") as err:
        interp.execute(code, variables={"path": str(pids)})
    assert time.monotonic() - start < 5
    assert isinstance(err.value, CodeExecutionError)  # recoverable: ProgramOfThought retries
    worker, grandchild = map(int, pids.read_text().split())
    deadline = time.monotonic() + 5
    while (_alive(worker) or _alive(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker) and not _alive(grandchild)
    assert interp.execute("'next snippet runs'") == "next snippet runs"


def test_crash_is_reported_and_recoverable() -> None:
    interp = SubprocessInterpreter()
    with pytest.raises(SubprocessCrashError, match="exited with code 3") as err:
        interp.execute("import os; os._exit(3)")
    assert isinstance(err.value, CodeExecutionError)
    with pytest.raises(SubprocessCrashError, match="SIGKILL"):
        interp.execute("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert interp.execute("1") == 1


@pytest.mark.skipif(sys.platform == "win32", reason="resource limits are POSIX-only")
def test_memory_limit() -> None:
    interp = SubprocessInterpreter(memory_limit_mb=256)
    with pytest.raises(CodeExecutionError, match="MemoryError"):
        interp.execute("blob = bytearray(1024 * 1024 * 1024)")
    assert SubprocessInterpreter(memory_limit_mb=None).execute("len(bytearray(300 * 1024 * 1024))") == 300 * 1024 * 1024


def test_no_network_by_default_and_no_host_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    interp = SubprocessInterpreter()
    with pytest.raises(CodeExecutionError, match="network access is disabled"):
        interp.execute("import socket; socket.create_connection(('127.0.0.1', 9))")
    with pytest.raises(CodeExecutionError, match="network access is disabled"):
        interp.execute("import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM)")
    allowed = SubprocessInterpreter(allow_network=True)
    assert allowed.execute("import socket; s = socket.socket(); s.close(); 'ok'") == "ok"

    monkeypatch.setenv("DSPY_BRIDGE_TEST_SECRET", "hunter2")
    assert interp.execute("import os; os.environ.get('DSPY_BRIDGE_TEST_SECRET')") == ""  # None -> stdout ""
    assert SubprocessInterpreter(env={"GREETING": "hi"}).execute("import os; os.environ['GREETING']") == "hi"


def test_shutdown_is_terminal() -> None:
    interp = SubprocessInterpreter()
    interp.shutdown()
    with pytest.raises(CodeInterpreterError, match="shut down"):
        interp.execute("1")


# -- ProgramOfThought end to end --------------------------------------------------------------


def test_program_of_thought_answers_what_the_code_computed_default_policy() -> None:
    lm = ScriptedLM()
    dspy.configure(lm=lm)
    pot = dspy.ProgramOfThought("question -> answer: int", interpreter_factory=SubprocessInterpreter)
    pred = pot(question="What is 12 * 12 + 1?")

    assert pred.answer == 145
    generate, answer = lm.calls
    code = generate.output["generated_code"]
    assert "SUBMIT" in code and "12 * 12 + 1" in code
    assert answer.requests[0].raw_inputs["code_output"] == '{"output": {"answer": 145}}'  # from the subprocess


def test_program_of_thought_uses_the_executed_result_not_the_lm() -> None:
    # The code computes something the LM cannot: the answer can only come from running it.
    code = (
        "import hashlib\nresult = int(hashlib.sha256(b'dspy-bridge').hexdigest()[:8], 16)\nSUBMIT({'answer': result})"
    )
    expected = int(hashlib.sha256(b"dspy-bridge").hexdigest()[:8], 16)
    lm = ScriptedLM([{"generated_code": f"```python\n{code}\n```"}], when_exhausted="default")
    with dspy.context(lm=lm):
        pred = make_program_of_thought("question -> answer: int")(question="Hash it")
    assert pred.answer == expected


def test_program_of_thought_feeds_errors_back_and_retries() -> None:
    lm = ScriptedLM(
        [
            {"generated_code": "values = [1, 2, 3]\nresult = sum(values) / 0\nSUBMIT({'answer': result})"},
            {"generated_code": "while True:\n    pass"},  # times out
            {"generated_code": "values = [1, 2, 3]\nSUBMIT({'answer': sum(values) * 100})"},
        ],
        when_exhausted="default",
    )
    dspy.configure(lm=lm)
    pot = make_program_of_thought("question -> answer: int", max_iters=3, timeout=1.0)
    pred = pot(question="Sum the values, times 100")

    assert pred.answer == 600
    first_retry, second_retry = lm.calls[1].requests[0], lm.calls[2].requests[0]
    assert "ZeroDivisionError" in first_retry.raw_inputs["error"]
    assert "TimeoutError" in second_retry.raw_inputs["error"]
    assert "while True" in second_retry.raw_inputs["previous_code"]


def test_configured_interpreter_factory_serves_plain_program_of_thought() -> None:
    dspy.configure(lm=ScriptedLM(), interpreter_factory=SubprocessInterpreter)
    pred = dspy.ProgramOfThought("question -> answer")(question="Add 3, 4 and 5")
    assert pred.answer == "12"


def test_program_of_thought_with_a_caller_owned_interpreter() -> None:
    interp = SubprocessInterpreter()
    with dspy.context(lm=ScriptedLM()):
        pot = dspy.ProgramOfThought("question -> answer: float", interpreter_factory=SubprocessInterpreter)
        pred = pot(interp, question="What is 7 / 2?")
    assert pred.answer == 3.5
    assert interp.execute("'reusable'") == "reusable"  # the caller owns (and shuts down) it
    interp.shutdown()


@pytest.mark.parametrize("adapter", [dspy.ChatAdapter, dspy.JSONAdapter, dspy.XMLAdapter], ids=lambda a: a.__name__)
def test_program_of_thought_with_every_adapter(adapter: type) -> None:
    lm = ScriptedLM()
    with dspy.context(lm=lm, adapter=adapter(), interpreter_factory=SubprocessInterpreter):
        pred = dspy.ProgramOfThought("question -> answer: float")(question="What is 10 / 4?")
    assert pred.answer == 2.5
    assert len(lm.calls) == 2  # generate, answer: the code ran at the first attempt
