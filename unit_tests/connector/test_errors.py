"""A 400 that Close means: the stream fails with Close's own words, without a retry, a split or a restart.

Commands run through `source-close-com`'s own entry point, in-process with the process's output captured
(`unit_tests/helpers/console.py`). The other errors a person must act on have files of their own: a rejected key
(test_rejected_key), a restricted key (test_restricted_key), a config that breaks the spec (test_spec_errors),
secrets in what the connector prints (test_secrets); 429/5xx handling is in test_resilience and test_faults.
"""

from __future__ import annotations

import pytest

from airbyte_cdk.models import FailureType

from unit_tests.harness import NO_LIMIT, catalog_for
from unit_tests.helpers.catalogs import only
from unit_tests.helpers.console import console

LIMIT_TOO_HIGH = "The limit you set is larger than the maximum limit for this resource (max_limit = 10)."


@pytest.mark.parametrize(
    "stream, resource, path",
    [
        ("users", "user", "user/"),  # offset pages, full refresh
        ("opportunities", "opportunity", "opportunity/"),  # windows restarted from the cursor on `maximum skip`
        ("lead_tasks", "task", "task/"),  # windows split in two on `maximum skip`
        ("contacts", "search", "data/search/"),  # search walks restarted on `Cursor has expired`
    ],
)
def test_a_400_close_cannot_serve_fails_the_stream_quoting_close(simulator, make_simulator, capfd, tmp_path, stream, resource, path):
    """Close refusing a request for good (here: a page size above the resource's limit) is neither retried nor
    taken for the `maximum skip` or expired-cursor 400s, which restart a walk: the filters for those match on
    the message, so they must not also match every 400 by status code."""
    sim = make_simulator(**NO_LIMIT, max_limit={resource: 10})
    run = console(capfd, tmp_path, "read", sim.config(window_days=3650), only(catalog_for(simulator.config()), [stream]))
    errors = run.stream_errors.get(stream, [])
    assert errors, f"no error for {stream}: " + "; ".join(e.message for e in run.errors)
    assert all(e.failure_type == FailureType.system_error for e in errors), [e.failure_type for e in errors]
    assert all(LIMIT_TOO_HIGH in e.message and path in e.message for e in errors), [e.message for e in errors]
    assert sim.stats()["paths"][path]["status"] == {"400": 1}, "the 400 was retried, split or restarted"
