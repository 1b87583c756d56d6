"""The guard around ``ast.literal_eval`` (components.py) answers exactly as the original does, faster for names."""

from __future__ import annotations

import ast
import threading

import pytest

from source_close_com import components  # noqa: F401  (installs the guard)
from airbyte_cdk.sources.declarative.interpolation.jinja import JinjaInterpolation

SAMPLES = [
    "contact", "date_updated", "_limit", "moment_range", "café", "match", "_", "type",  # names: never literals
    "True", "False", "None", "and", "if", "lambda",  # literals and keywords: the parser decides
    "200", "-1.5", "1e3", "'quoted'", "[1, 2]", "{'a': 1}", "(1,)", " 42", "\t7",
    "2024-01-01T00:00:00.000000+00:00", "api_key", "a b", "x.y", "f(1)", "", "{{", "[", "0x10",
]


def outcome(function, value):
    try:
        return ("value", function(value))
    except Exception as error:  # the type is what callers branch on
        return ("error", type(error))


def test_the_guard_is_installed_and_keeps_the_original():
    assert getattr(ast.literal_eval, "_close_guarded", False)
    assert ast.literal_eval.__wrapped__ is not ast.literal_eval


@pytest.mark.parametrize("value", SAMPLES)
def test_same_answer_as_the_original(value):
    assert outcome(ast.literal_eval, value) == outcome(ast.literal_eval.__wrapped__, value)


def test_interpolation_still_turns_literals_into_values_and_leaves_words_alone():
    jinja = JinjaInterpolation()
    assert jinja.eval("contact", {}) == "contact"
    assert jinja.eval("True", {}) is True
    assert jinja.eval("{{ 100 + 100 }}", {}) == 200
    assert jinja.eval("{{ config['word'] }}", {"word": "asc"}) == "asc"


def test_many_threads_at_once_get_the_right_answers():
    """Eight threads interpolating at once: every answer correct, no SystemError from the AST constructor."""
    errors, answers = [], []

    def work():
        try:
            for _ in range(300):
                answers.append(ast.literal_eval("{'a': [1, 2, {'b': (3, 4)}]}"))
                assert outcome(ast.literal_eval, "contact") == ("error", ValueError)
        except Exception as error:  # collected: an assertion in a thread would be lost
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[:3]
    assert len(answers) == 8 * 300 and all(a == {"a": [1, 2, {"b": (3, 4)}]} for a in answers)
