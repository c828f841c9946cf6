"""The variable-aware classes behave as DSPy's own where DSPy's tests look: a copy made by
``Module.deepcopy()`` has parameters equal to the original's by ``__dict__`` (DSPy's
tests/primitives/test_base_module.py checks exactly that; with the variable-aware classes in
place of DSPy's it failed three more tests than plain DSPy, on the restore helper's identity)."""

from __future__ import annotations

import threading

import dspy
import pytest

from dspy_bridge import VariableAwareChainOfThought, VariableAwareMixin, VariableAwarePredict, make_variable_aware


def _same_params(a: dspy.Module, b: dspy.Module) -> None:
    assert len(a.parameters()) == len(b.parameters())
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert pa is not pb
        assert pa.__dict__ == pb.__dict__


@pytest.mark.parametrize("cls", [VariableAwarePredict, VariableAwareChainOfThought])
def test_deepcopy_keeps_equal_parameters(cls: type) -> None:
    module = cls(dspy.Signature("q -> a"))
    _same_params(module, module.deepcopy())


def test_deepcopy_with_uncopyable_and_nested_modules() -> None:
    class Inner(VariableAwareMixin, dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lock = threading.Lock()  # not copyable: shared by the copy
            self.cot = VariableAwareChainOfThought(dspy.Signature("q -> a"))

    class Outer(VariableAwareMixin, dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.sub = Inner()

    model = Outer()
    copied = model.deepcopy()
    assert copied.sub.lock is model.sub.lock
    _same_params(model, copied)


def test_a_bound_modules_copy_is_equal_too() -> None:
    """With bindings applied, the copy restores the same values (to its own predictors)."""
    module = make_variable_aware(dspy.ChainOfThought("q -> a"))
    module._apply("temperature", 0.3)  # what a binding does to the predictors
    copied = module.deepcopy()
    assert copied._va_restore == module._va_restore and copied._va_restore is not module._va_restore
    _same_params(module, copied)
    assert copied.predict.config["temperature"] == 0.3
