"""The guard around ``ast.literal_eval`` (components.py) answers exactly as the original does, faster for names,
and where CPython's parser fails when threads parse at once (python/cpython#106905), it keeps them apart."""

from __future__ import annotations

import ast
import gc
import sys
import threading
import time

import pytest

from source_close_com import components  # installs the guard
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


class Garbage:
    """A cycle only the garbage collector frees; its finaliser lets another thread run, wherever the collection was."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        time.sleep(0)


def system_errors_when_threads_parse_at_once(function, threads: int = 4, parses: int = 2000) -> list:
    """Threads parsing while collections run finalisers in the middle of parses: the ``SystemError``s raised."""
    errors: list = []

    def work():
        try:
            for _ in range(parses):
                function("{'a': [1, 2, {'b': (3, 4)}], 'c': [[[[1]]]]}")
                Garbage()
        except SystemError as error:
            errors.append(error)

    threshold = gc.get_threshold()
    gc.set_threshold(5)  # a collection every few allocations: one lands inside a parse
    try:
        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        gc.set_threshold(*threshold)
    return errors


def test_the_lock_keeps_threads_from_breaking_each_others_parse():
    """Where the interpreter has the bug, the parser alone fails under this load and the guard never does; where it
    is fixed, the parser alone survives the same load, and the guard takes no lock."""
    assert components.LITERAL_EVAL_NEEDS_LOCK == (
        sys.implementation.name == "cpython" and (sys.version_info < (3, 11, 8) or (3, 12) <= sys.version_info < (3, 12, 2))
    )
    original = ast.literal_eval.__wrapped__
    closure = dict(zip(ast.literal_eval.__code__.co_freevars, (cell.cell_contents for cell in ast.literal_eval.__closure__)))
    assert (closure["parse"] is original) == (not components.LITERAL_EVAL_NEEDS_LOCK), "a lock only where it is needed"
    if components.LITERAL_EVAL_NEEDS_LOCK:
        # The race needs a thread switch at the wrong moment: a few rounds make it certain in practice.
        assert any(system_errors_when_threads_parse_at_once(original) for _ in range(10)), (
            "the unguarded parser survived: the lock would prove nothing here"
        )
    else:
        assert not system_errors_when_threads_parse_at_once(original)
    assert not system_errors_when_threads_parse_at_once(ast.literal_eval)
