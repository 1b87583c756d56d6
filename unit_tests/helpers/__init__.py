"""Helpers the test modules share, one module per topic (``unit_tests/harness.py`` runs the connector itself).

* ``times``: Close's timestamps as datetimes, and how far before its state a sync may read again;
* ``catalogs``: the incremental catalog and catalogs of a few streams;
* ``console``: ``source-close-com`` run in-process with what it prints captured, and what it printed;
* ``pages``: ``requests.Response`` objects shaped like Close's list pages, for the paginators;
* ``background``: slow set-ups started when the test run starts, at low priority: ``venvs`` (the CDK-only and the
  Docker-steps virtualenvs), ``three_runners`` (the package, the manifest runner and the Builder as processes),
  ``pyairbyte_syncs`` (two PyAirbyte syncs into DuckDB);
* ``dockerfile``: the Dockerfile read as its instructions.
"""
