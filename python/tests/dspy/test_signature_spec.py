"""Signature specs (a typed signature string with the instructions and field descriptions a
string cannot carry; hosts build them from schema objects) and what DSPy returns for typed
fields, with the ScriptedLM: the values the TypeScript types promise."""

from __future__ import annotations

import dspy
import pytest

from dspy_bridge.dspy._signatures import check_inputs, check_signature
from dspy_bridge.errors import InvalidArgumentError
from dspy_bridge.testing import ScriptedLM

SPEC = {
    "signature": "question: str, hint: Optional[str] -> answer: int, confidence: float",
    "instructions": "Answer with a number.",
    "descriptions": {"question": "a question about arithmetic", "answer": "the result"},
}


def test_a_spec_becomes_a_signature_with_its_instructions_and_descriptions() -> None:
    sig = check_signature(SPEC)
    assert sig.instructions == "Answer with a number."
    assert sig.input_fields["question"].json_schema_extra["desc"] == "a question about arithmetic"
    assert sig.output_fields["answer"].json_schema_extra["desc"] == "the result"
    assert sig.output_fields["answer"].annotation is int
    assert check_inputs(SPEC, {"question": "2+2?"}) == {"question": "2+2?"}  # the Optional hint may be left out


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"signature": "q -> a", "extra": 1}, "unknown key"),
        ({"signature": 3}, "signature spec"),
        ({"signature": "q -> a", "descriptions": {"nope": "x"}}, "descriptions.nope"),
        ({"signature": "q ->"}, "output field"),
    ],
)
def test_a_bad_spec_is_an_invalid_argument_naming_the_problem(spec: dict, named: str) -> None:
    with pytest.raises(InvalidArgumentError, match=named):
        check_signature(spec)


def test_typed_fields_come_back_as_their_python_types() -> None:
    lm = ScriptedLM(when_exhausted="default")
    with dspy.context(lm=lm):
        p = dspy.ChainOfThought(check_signature(SPEC))(question="What is 6*7?")
        typed = dspy.Predict("question -> score: float, ids: list[int], label: Literal['yes', 'no']")(question="What?")
    assert isinstance(p.answer, int) and p.answer == 42
    assert isinstance(p.confidence, float)
    assert isinstance(p.reasoning, str)
    assert isinstance(typed.score, float)
    assert isinstance(typed.ids, list) and all(isinstance(i, int) for i in typed.ids)
    assert typed.label in ("yes", "no")
