"""DSPy integration for dspy-bridge: host-side DSPy commands, variable-aware modules, and
:class:`SubprocessInterpreter` (ProgramOfThought without Deno or network)."""

from .interpreter import SubprocessCrashError, SubprocessInterpreter, SubprocessTimeoutError, make_program_of_thought

__all__ = ["SubprocessCrashError", "SubprocessInterpreter", "SubprocessTimeoutError", "make_program_of_thought"]
