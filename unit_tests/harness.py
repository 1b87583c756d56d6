"""Run the connector in-process the way Airbyte does, and compare what it emits with the simulator's truth."""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence

import yaml

from airbyte_cdk.models import (
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    Type,
)
from airbyte_cdk.models.airbyte_protocol_serializers import AirbyteCatalogSerializer
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, discover, read

from source_close_com.run import MANIFEST_PATH, CloseEntrypoint, SourceCloseCom
from tools.catalog import configured_catalog as shared_configured_catalog


# Simulator options for an account without rate limits (tests that pace set their own).
NO_LIMIT = {"rps": None, "org_rps": None}


MANIFEST = yaml.load(MANIFEST_PATH.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
# 0.1 s before a first retry, then 0.2 s, 0.4 s (each plus the CDK's 1 s), where the manifest's factor 2 waits 4 s,
# then 8 s: for tests whose faults are retried many times and which prove that nothing is lost, not how long a
# retry waits.
SHORT_BACKOFF_FACTOR = 0.05


def manifest(read_timeout: Optional[float] = None, backoff_factor: Optional[float] = SHORT_BACKOFF_FACTOR) -> dict:
    """The connector's manifest as a dict, with a shorter exponential backoff and optionally a shorter read timeout
    on the shared requester (120 s in the manifest)."""
    chosen = copy.deepcopy(MANIFEST)
    if backoff_factor is not None:
        strategies = chosen["definitions"]["close_rules"]["backoff_strategies"]
        backoff = [b for b in strategies if b["type"] == "ExponentialBackoffStrategy"]
        assert len(backoff) == 1, "the manifest's error rules no longer back off exponentially"
        backoff[0]["factor"] = backoff_factor
    if read_timeout is not None:
        requester = chosen["definitions"]["requester"]
        assert "read_timeout_in_seconds" in requester, "the shared requester no longer sets a read timeout"
        requester["read_timeout_in_seconds"] = read_timeout
    return chosen


def source(config: Optional[Mapping[str, Any]] = None, catalog=None, state=None, source_manifest: Optional[dict] = None):
    """The packaged source, or the same connector built from a manifest dict (``manifest``)."""
    if source_manifest is None:
        return SourceCloseCom(catalog=catalog, config=config, state=state)
    return ConcurrentDeclarativeSource(catalog=catalog, config=config, state=state, source_config=copy.deepcopy(source_manifest))


def run_command(command: str, config: Optional[Mapping[str, Any]] = None) -> EntrypointOutput:
    """One command through the packaged connector's own entrypoint (as `source-close-com` runs it), which
    words spec violations itself; the CDK's test wrapper would use the CDK's generic entrypoint."""
    import logging
    import tempfile
    from io import StringIO

    from airbyte_cdk.logger import AirbyteLogFormatter

    args = [command]
    if config is not None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(config, handle)
        args += ["--config", handle.name]
    logs = StringIO()
    handler = logging.StreamHandler(logs)
    handler.setLevel(logging.INFO)
    handler.setFormatter(AirbyteLogFormatter())
    logging.getLogger("").addHandler(handler)
    entrypoint = CloseEntrypoint(source(config))
    messages: List[str] = []
    uncaught = None
    try:
        messages.extend(entrypoint.run(entrypoint.parse_args(args)))
    except Exception as error:  # the platform sees a non-zero exit; the test sees the exception
        uncaught = error
    finally:
        logging.getLogger("").removeHandler(handler)
    return EntrypointOutput(messages=messages + logs.getvalue().split("\n")[:-1], uncaught_exception=uncaught)


def run_discover(config: Mapping[str, Any]) -> EntrypointOutput:
    import logging

    # The CDK's wrapper runs discover with --debug, which leaves the "airbyte" logger at DEBUG for every later
    # in-process run (each response body logged): put it back.
    logger = logging.getLogger("airbyte")
    level = logger.level
    try:
        return discover(source(config), dict(config), expecting_exception=True)
    finally:
        logger.setLevel(level)


def configured_catalog(
    config: Mapping[str, Any],
    streams: Optional[Iterable[str]] = None,
    sync_mode: str = "full_refresh",
) -> ConfiguredAirbyteCatalog:
    """A configured catalog for the named streams (all by default) in the given sync mode where supported."""
    discovered = AirbyteCatalogSerializer.dump(run_discover(config).catalog.catalog)
    try:
        return ConfiguredAirbyteCatalogSerializer.load(shared_configured_catalog(discovered, sync_mode, streams))
    except ValueError as error:
        raise AssertionError(str(error)) from None


@contextmanager
def log_levels_restored():
    """`--debug` (and the CDK test wrapper's discover, which always passes it) turns debug logging on for the
    whole process, on the "airbyte" logger and those below it; put the levels back for the runs that follow."""
    loggers = [logging.getLogger(name) for name in ["airbyte", *logging.root.manager.loggerDict] if name.startswith("airbyte")]
    levels = [(logger, logger.level) for logger in loggers if isinstance(logger, logging.Logger)]
    try:
        yield
    finally:
        for logger, level in levels:
            logger.setLevel(level)


# API key -> the catalog discover printed for it (see `catalog_for`).
_DISCOVERED: Dict[str, dict] = {}


def discovered_catalog(config: Mapping[str, Any]) -> dict:
    """The catalog discover prints for this config's key, discovered once per key in a test run.

    A catalog depends on the account (its custom fields are columns) and on what the key may read; a simulated
    account is made from its seed, and so is its key. A test that changes an account's custom fields discovers
    with `run_discover`, which always asks."""
    key = config["api_key"]
    if key not in _DISCOVERED:
        with log_levels_restored():
            output = run_discover(config)
        assert not output.errors, "discover failed: " + "; ".join(str(e.trace.error.message) for e in output.errors)
        _DISCOVERED[key] = AirbyteCatalogSerializer.dump(output.catalog.catalog)
    return _DISCOVERED[key]


def catalog_for(
    config: Mapping[str, Any],
    streams: Optional[Iterable[str]] = None,
    sync_mode: str = "full_refresh",
) -> ConfiguredAirbyteCatalog:
    """`configured_catalog`, from the catalog discovered once per key (`discovered_catalog`)."""
    try:
        return ConfiguredAirbyteCatalogSerializer.load(shared_configured_catalog(discovered_catalog(config), sync_mode, streams))
    except ValueError as error:
        raise AssertionError(str(error)) from None


def run_read(
    config: Mapping[str, Any],
    catalog: ConfiguredAirbyteCatalog,
    state: Optional[List[AirbyteStateMessage]] = None,
    expect_errors: bool = False,
    source_manifest: Optional[dict] = None,
) -> EntrypointOutput:
    chosen = source(config, catalog, state, source_manifest)
    output = read(chosen, dict(config), catalog, state, expecting_exception=expect_errors)
    if not expect_errors:
        errors = output.errors
        assert not errors, "the read failed: " + "; ".join(
            str(e.trace.error.message) + " / " + str(e.trace.error.internal_message) for e in errors
        )
    return output


NAIVE_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?$")


def with_utc(node: Any) -> Any:
    """A record as the connector emits what Close holds: naive timestamps (Close means UTC) with +00:00."""
    if isinstance(node, dict):
        return {key: with_utc(value) for key, value in node.items()}
    if isinstance(node, list):
        return [with_utc(value) for value in node]
    return node + "+00:00" if isinstance(node, str) and NAIVE_TIMESTAMP.match(node) else node


def without_nulls(record: Mapping[str, Any]) -> Dict[str, Any]:
    """The Airbyte serializer leaves out top-level keys whose value is null; destinations read both alike."""
    return {key: value for key, value in record.items() if value is not None}


def as_emitted(record: Mapping[str, Any]) -> Dict[str, Any]:
    """What a destination receives for a record the simulator holds, to compare with what it did receive."""
    return without_nulls(with_utc(record))


def stream_position(stream_state: Mapping[str, Any]) -> Dict[str, Any]:
    """A stream's state with its cursor at the top: a partitioned stream (deleted_records, one partition per
    object type) keeps its overall position under `state`."""
    blob = dict(stream_state or {})
    return {**blob["state"], **blob} if isinstance(blob.get("state"), dict) else blob


@dataclass
class ReadResult:
    output: EntrypointOutput
    records: Dict[str, List[dict]] = field(default_factory=lambda: defaultdict(list))
    states: Dict[str, List[dict]] = field(default_factory=lambda: defaultdict(list))

    @property
    def final_state(self) -> List[AirbyteStateMessage]:
        """The last state message of each stream, as a next sync would be given."""
        last: Dict[str, AirbyteStateMessage] = {}
        for message in self.output.state_messages:
            last[message.state.stream.stream_descriptor.name] = message.state
        return list(last.values())

    def ids(self, stream: str) -> List[str]:
        return [r["id"] for r in self.records[stream]]

    @classmethod
    def of(cls, output: EntrypointOutput) -> "ReadResult":
        """Records and states of a read, by stream."""
        result = cls(output=output)
        for message in output.get_message_iterator():
            if message.type == Type.RECORD:
                result.records[message.record.stream].append(message.record.data)
            elif message.type == Type.STATE:
                stream_state = message.state.stream
                blob = dict(stream_state.stream_state.__dict__) if stream_state.stream_state else {}
                result.states[stream_state.stream_descriptor.name].append(stream_position(blob))
        return result


def sync(
    config: Mapping[str, Any],
    streams: Optional[Sequence[str]] = None,
    sync_mode: str = "full_refresh",
    state: Optional[List[AirbyteStateMessage]] = None,
    catalog: Optional[ConfiguredAirbyteCatalog] = None,
    expect_errors: bool = False,
    source_manifest: Optional[dict] = None,
) -> ReadResult:
    # The simulator in tests has no rate limit unless a test sets one; pace only where a test says so.
    config = {"requests_per_second": 500, **config}
    catalog = catalog or configured_catalog(config, streams, sync_mode)
    output = run_read(config, catalog, state, expect_errors=expect_errors, source_manifest=source_manifest)
    return ReadResult.of(output)


def sync_streams(
    config: Mapping[str, Any],
    streams: Optional[Sequence[str]] = None,
    sync_mode: str = "full_refresh",
    state: Optional[List[AirbyteStateMessage]] = None,
    expect_errors: bool = False,
) -> ReadResult:
    """`sync`, with the catalog discovered once per key (`catalog_for`) instead of by a discover of its own."""
    config = {"requests_per_second": 500, **config}
    return sync(config, catalog=catalog_for(config, streams, sync_mode), state=state, expect_errors=expect_errors)


@contextmanager
def alongside(work: Callable[[threading.Event], None], name: str, join_s: float = 30.0) -> Iterator[threading.Event]:
    """Runs ``work(done)`` in a thread of its own for the duration of the with-block (a sync, say); ``done`` is set
    when the block ends, and the thread is given ``join_s`` seconds to see it."""
    done = threading.Event()
    thread = threading.Thread(target=work, args=(done,), name=name, daemon=True)
    thread.start()
    try:
        yield done
    finally:
        done.set()
        thread.join(join_s)


def at_once(calls: Mapping[Any, Callable[[], None]]) -> Dict[Any, Optional[BaseException]]:
    """Runs every call in a thread of its own, all at once; what each raised (None: nothing), by its key. For
    scenarios that spend their time waiting (retries' backoff), each against a simulator of its own."""
    outcomes: Dict[Any, Optional[BaseException]] = {}

    def run(key: Any, call: Callable[[], None]) -> None:
        try:
            call()
        except BaseException as error:  # raised again by the test the scenario belongs to
            outcomes[key] = error
        else:
            outcomes[key] = None

    threads = [threading.Thread(target=run, args=item, name=f"scenario {item[0]}", daemon=True) for item in calls.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def assert_ground_truth(sim, streams: Iterable[str], *results: "ReadResult", start_date: str = "2021-01-01") -> None:
    """The union of the reads is the server's data: every record that exists was emitted, nothing else was, and
    the last version emitted of each record (later reads win, and within a read the later message) is the
    server's current version, field for field."""
    problems = []
    for stream in streams:
        truth = {r["id"]: as_emitted(r) for r in sim.truth(stream, start_date=start_date)}
        assert truth, f"the simulator has no {stream}: the check would prove nothing"
        latest: Dict[str, dict] = {}
        for result in results:
            for record in result.records[stream]:
                latest[record["id"]] = without_nulls(record)
        if set(latest) != set(truth):
            problems.append(f"{stream}: " + id_diff(latest, truth))
        stale = sorted(i for i, record in latest.items() if i in truth and record != truth[i])
        if stale:
            problems.append(f"{stream}: {len(stale)} records last emitted in an older version than the server's: {stale[:3]}")
    assert not problems, "\n".join(problems)


def id_diff(emitted: Iterable[str], expected: Iterable[str]) -> str:
    emitted_set, expected_set = set(emitted), set(expected)
    missing = sorted(expected_set - emitted_set)
    extra = sorted(emitted_set - expected_set)
    return f"missing {len(missing)} {missing[:5]}, extra {len(extra)} {extra[:5]}"


def output_text(output: EntrypointOutput) -> str:
    """Everything the connector emitted, serialised as the platform would read it (for secret scans)."""
    from airbyte_cdk.models import AirbyteMessageSerializer

    return "\n".join(json.dumps(AirbyteMessageSerializer.dump(m)) for m in output.get_message_iterator())


def _cursor_rank(value: Any) -> tuple:
    """Orders cursor values as a deduplicating destination does: nulls lowest, then by time."""
    if not value:
        return (0,)
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return (1, moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))


class DedupedDestination:
    """Tables built from syncs as Airbyte's deduplicating destinations build them: per primary key the record with
    the highest cursor value wins (a null cursor lowest, a tie to the later record), and a winner carrying
    `_ab_cdc_deleted_at` removes the row."""

    def __init__(self, cursors: Mapping[str, str]):
        self.cursors = dict(cursors)
        self._winners: Dict[str, Dict[str, dict]] = defaultdict(dict)

    def load(self, result: "ReadResult") -> None:
        for stream, cursor in self.cursors.items():
            table = self._winners[stream]
            for record in result.records[stream]:
                current = table.get(record["id"])
                if current is None or _cursor_rank(record.get(cursor)) >= _cursor_rank(current.get(cursor)):
                    table[record["id"]] = record

    def rows(self, stream: str) -> Dict[str, dict]:
        return {i: without_nulls(r) for i, r in self._winners[stream].items() if not r.get("_ab_cdc_deleted_at")}

    def differences(self, sim, start_date: str) -> List[str]:
        """Per stream, how the table differs from what the simulator holds now (empty when it is a replica)."""
        problems = []
        for stream in self.cursors:
            truth = {r["id"]: as_emitted(r) for r in sim.truth(stream, start_date=start_date)}
            rows = self.rows(stream)
            if set(rows) != set(truth):
                problems.append(f"{stream}: " + id_diff(rows, truth))
            stale = sorted(i for i, row in rows.items() if i in truth and row != truth[i])
            if stale:
                sample = stale[0]
                changed = sorted(k for k in set(rows[sample]) | set(truth[sample]) if rows[sample].get(k) != truth[sample].get(k))
                problems.append(f"{stream}: {len(stale)} rows differ from Close, e.g. {sample} in {changed}")
        return problems
