"""What the manifest cannot say in YAML.

Each class here is referenced from ``manifest.yaml`` as ``source_declarative_manifest.components.<Name>``:
that is the module name under which Airbyte's manifest runner and the Connector Builder load this file,
and ``run.py`` registers the same alias for the packaged connector.
"""


import ast
import contextlib
import copy
import functools
import hashlib
import itertools
import ipaddress
import keyword
import logging
import queue
import re
import sys
import threading
import time
from dataclasses import InitVar, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterable, Iterator, List, Mapping, MutableMapping, Optional, Union
from urllib.parse import parse_qs, urlsplit

import orjson
import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.auth.token import BasicHttpAuthenticator
from airbyte_cdk.sources.declarative.extractors.record_extractor import RecordExtractor
from airbyte_cdk.sources.declarative.extractors.type_transformer import TypeTransformer
from airbyte_cdk.sources.declarative.interpolation import InterpolatedString
from airbyte_cdk.sources.declarative.migrations.state_migration import StateMigration
from airbyte_cdk.sources.declarative.requesters.paginators.strategies.pagination_strategy import (
    PaginationStrategy,
)
from airbyte_cdk.sources.declarative.requesters.requester import Requester
from airbyte_cdk.sources.declarative.retrievers.retriever import Retriever
from airbyte_cdk.sources.declarative.schema.schema_loader import SchemaLoader
from airbyte_cdk.sources.declarative.transformations import RecordTransformation
from airbyte_cdk.sources.declarative.types import Config, Record, StreamSlice, StreamState
from airbyte_cdk.sources.declarative.validators.validation_strategy import ValidationStrategy
from airbyte_cdk.sources.streams.http.error_handlers import ErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import (
    SUCCESS_RESOLUTION,
    ErrorResolution,
    ResponseAction,
)
from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets, filter_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

logger = logging.getLogger("airbyte")


# CPython's AST constructor kept its recursion counter in interpreter-wide state until the fix of python/cpython#106905
# (in 3.11.8 and 3.12.2): a thread switch in the middle of a parse (a garbage collection running a finaliser) let
# another thread's parse move the counter, and ``ast.literal_eval`` failed at random with ``SystemError: AST
# constructor recursion depth mismatch``. Where the fix is missing, every parse takes one lock.
LITERAL_EVAL_NEEDS_LOCK = sys.implementation.name == "cpython" and (
    sys.version_info < (3, 11, 8) or (3, 12) <= sys.version_info < (3, 12, 2)
)


def _guard_literal_eval() -> None:
    """The CDK runs every interpolated value through ``ast.literal_eval``, from all worker threads at once.

    - Where ``LITERAL_EVAL_NEEDS_LOCK`` says so, one lock around the parser keeps two threads from parsing at once
      (a stream would otherwise fail at random); it costs nothing measurable next to the GIL the calls hold anyway.
    - Most values are plain words (every key and constant of the contacts search body, ``_order_by`` values...),
      which are never literals: answering them without parsing saves about a tenth of a sync's CPU
      (``bench/bench_literal_eval.py``, figures in bench/RESULTS.md).
    """
    if getattr(ast.literal_eval, "_close_guarded", False):
        return
    unguarded = ast.literal_eval
    parse = unguarded
    if LITERAL_EVAL_NEEDS_LOCK:
        lock = threading.Lock()

        def parse(node_or_string: Any) -> Any:
            with lock:
                return unguarded(node_or_string)

    def literal_eval(node_or_string: Any) -> Any:
        # A name is never a literal (True/False/None are keywords, and keywords are a SyntaxError: slow path).
        if isinstance(node_or_string, str) and node_or_string.isidentifier() and not keyword.iskeyword(node_or_string):
            raise ValueError(f"malformed node or string: {node_or_string!r}")
        return parse(node_or_string)

    literal_eval._close_guarded = True  # type: ignore[attr-defined]
    literal_eval.__wrapped__ = unguarded  # type: ignore[attr-defined]
    ast.literal_eval = literal_eval


_guard_literal_eval()


def page_body(response: requests.Response) -> Any:
    """The page's JSON, parsed once per response and kept on it: the error handler's check, the paginator and
    the extractor all need it, and a page of emails is costly to parse three times."""
    body = getattr(response, "_close_page_body", None)
    if body is None:
        body = orjson.loads(response.content)
        response._close_page_body = body  # type: ignore[attr-defined]
    return body


# The spec's default for `api_url`, which the manifest's config normalisation fills in; for code that may see a
# config before that (the packaged entry point's checks).
DEFAULT_API_URL = "https://api.close.com/api/v1/"

def _key_fingerprint(config: Mapping[str, Any]) -> str:
    material = f"{config.get('api_url') or ''}\0{config.get('api_key') or ''}"
    return hashlib.sha256(material.encode("utf8")).hexdigest()


class RejectedKeys:
    """The keys Close answered 401 in this process, by digest of API URL and key: ``ResponseTriage`` notes a 401,
    ``CloseKeyAuth`` refuses to sign a request with a noted key. So a revoked key costs one request per sync, not
    one per stream and date window. Forgotten after ``MEMORY_S``: a long-lived process (the Connector Builder)
    tries a key again that was fixed in Close meanwhile."""

    MEMORY_S = 600.0
    _noted: Dict[str, float] = {}  # digest -> when

    @classmethod
    def note(cls, config: Mapping[str, Any]) -> None:
        cls._noted[_key_fingerprint(config)] = time.monotonic()

    @classmethod
    def includes(cls, config: Mapping[str, Any]) -> bool:
        when = cls._noted.get(_key_fingerprint(config))
        return when is not None and time.monotonic() - when < cls.MEMORY_S


def stream_endpoint(parameters: Mapping[str, Any]) -> Optional[str]:
    """The path a stream reads, relative to the API's base: its ``endpoint``, or the one its shape implies (task
    streams name a task type and read ``task/``, search streams an object type and read ``data/search/``)."""
    if parameters.get("endpoint"):
        return parameters["endpoint"]
    if parameters.get("task_type"):
        return "task/"
    return "data/search/" if parameters.get("object_type") else None


@dataclass
class ResponseTriage(ErrorHandler):
    """A first look at each answer, for what the manifest's response filters cannot do:

    - a 200 whose body is not a JSON object (cut short by a proxy, or garbled) is retried: the CDK's JSON decoder
      would read it as an empty last page and end the stream early. A readable 200 is settled here, so the
      filters (which match on status *or* body text) do not parse each page again;
    - a 403 is skipped here. On the stream's own endpoint it is logged as one warning per stream, however many
      date windows meet it; elsewhere (the custom field definitions a schema reads) the schema loader says what
      it means. The CDK logs every skipped answer at INFO too: ``QuietForbiddenPages`` drops those repeats;
    - a 401 is noted in ``RejectedKeys``, so that ``CloseKeyAuth`` sends no further request with that key.

    First in a CompositeErrorHandler, so it also carries the retry budget for the whole handler.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    max_retries: Union[int, str] = 5
    max_time: int = 600

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self.max_retries = int(InterpolatedString.create(str(self.max_retries), parameters=parameters).eval(self.config))
        self._stream = parameters.get("name", "?")
        self._endpoint = stream_endpoint(parameters)
        self._forbidden_warned = False
        QuietForbiddenPages.attach(f"airbyte.HttpRequester.{self._stream}")

    def interpret_response(self, response_or_exception: Optional[Union[requests.Response, Exception]]) -> Optional[ErrorResolution]:  # type: ignore[override]
        if not isinstance(response_or_exception, requests.Response):
            return None
        if response_or_exception.status_code == 401:
            RejectedKeys.note(self.config)
            return None
        if response_or_exception.status_code == 403:
            if self._reads_own_endpoint(response_or_exception.url):
                self._warn_forbidden(_public_url(response_or_exception.url))
            return ErrorResolution(response_action=ResponseAction.IGNORE, error_message=FORBIDDEN_PAGE_SKIPPED)
        if response_or_exception.status_code != 200:
            return None
        try:
            if isinstance(page_body(response_or_exception), dict):
                return SUCCESS_RESOLUTION
        except orjson.JSONDecodeError:
            pass
        return ErrorResolution(
            response_action=ResponseAction.RETRY,
            failure_type=FailureType.transient_error,
            error_message=(
                f"Close sent an unreadable page for {_public_url(response_or_exception.url)} "
                "(the JSON body was cut short or invalid)."
            ),
        )

    def _reads_own_endpoint(self, url: Optional[str]) -> bool:
        if self._endpoint is None or not url:
            return True
        base = urlsplit(self.config.get("api_url") or DEFAULT_API_URL).path
        path = urlsplit(url).path
        return (path[len(base):] if path.startswith(base) else path.lstrip("/")) == self._endpoint

    def _warn_forbidden(self, url: str) -> None:
        if self._forbidden_warned:  # each date window of the stream meets the same 403
            return
        self._forbidden_warned = True
        logger.warning(
            f"Stream '{self._stream}' is skipped: this API key has no permission to read {url} (403 Forbidden). "
            "Ask a Close admin to give the key's user a role with access to this data, or deselect the stream."
        )


FORBIDDEN_PAGE_SKIPPED = "Skipped an answer this API key may not read (403 Forbidden); the stream's warning says more."


class QuietForbiddenPages(logging.Filter):
    """Drops the CDK's INFO line for each skipped 403 (``FORBIDDEN_PAGE_SKIPPED``), logged once per request: a
    stream read in 31 date windows would repeat it 31 times after its one warning. Holds no state."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != FORBIDDEN_PAGE_SKIPPED

    @classmethod
    def attach(cls, logger_name: str) -> None:
        target = logging.getLogger(logger_name)
        if not any(isinstance(existing, cls) for existing in target.filters):
            target.addFilter(cls())


def _public_url(url: Optional[str]) -> str:
    """The request URL without credentials, query or fragment, for messages."""
    if not url:
        return "Close's API"
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"


_CLOSE_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")
# How cursor values and window bounds are written (the manifest's cursor `datetime_format`).
CURSOR_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"


def _parse_time(value: Any) -> Optional[datetime]:
    if not isinstance(value, str):
        return None
    for fmt in _CLOSE_TIME_FORMATS:
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


@dataclass
class SavedStateCheck(StateMigration):
    """Looks at a stream's saved cursor before the sync starts.

    - Later than now (a clock error, or a hand-edited state): every later sync would read nothing. It is
      clamped to the sync's start time, with a warning naming the stream and both times.
    - Older than what Close keeps (``retention_days`` in the stream's parameters: events and deletions, 30
      days): the gap is gone from Close. The state is kept (the cursor starts at the oldest day Close has)
      and a warning says what was lost and how often to sync.
    - Older than the event log, for a stream that replays it (``ReplicaRetriever``): deletions and unseen edits
      since then cannot be found. The sync goes on with new and changed records; a warning says how to recover.
    """

    parameters: InitVar[Mapping[str, Any]]
    config: Config
    # The stream's model, which the CDK hands to its state migrations: it says whether the stream replays the log.
    declarative_stream: Optional[Any] = None

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = parameters.get("name", "?")
        self._retention_days = int(parameters.get("retention_days") or 0)
        retriever = getattr(self.declarative_stream, "retriever", None)
        self._replays_log = str(getattr(retriever, "class_name", "")).endswith(f".{ReplicaRetriever.__name__}")
        if self._replays_log and not self._retention_days:
            self._retention_days = EVENT_LOG_DAYS
        self._now = datetime.now(timezone.utc)

    @staticmethod
    def cursor_mappings(stream_state: Mapping[str, Any]) -> List[Mapping[str, Any]]:
        """The cursor mappings of a state: the state itself, or for a partitioned stream (deleted_records, one
        partition per object type) its global ``state`` and each partition's ``cursor``."""
        cursors = [stream_state or {}]
        if isinstance(cursors[0].get("state"), Mapping):
            cursors.append(cursors[0]["state"])
        for entry in cursors[0].get("states") or []:
            if isinstance(entry, Mapping) and isinstance(entry.get("cursor"), Mapping):
                cursors.append(entry["cursor"])
        return cursors

    @staticmethod
    def _times(cursor: Mapping[str, Any]) -> Dict[str, datetime]:
        return {k: t for k, t in ((k, _parse_time(v)) for k, v in cursor.items()) if t is not None}

    def _too_old(self, moment: datetime) -> bool:
        return bool(self._retention_days) and (self._now - moment).days > self._retention_days

    def should_migrate(self, stream_state: Mapping[str, Any]) -> bool:
        return any(
            t > self._now or self._too_old(t) for cursor in self.cursor_mappings(stream_state) for t in self._times(cursor).values()
        )

    def migrate(self, stream_state: Mapping[str, Any]) -> Mapping[str, Any]:
        checked = copy.deepcopy(dict(stream_state))
        now = self._now.strftime(CURSOR_FORMAT)
        future: Dict[str, str] = {}
        too_old: Dict[str, str] = {}
        for cursor in self.cursor_mappings(checked):
            for key, moment in self._times(cursor).items():
                if moment > self._now:
                    future.setdefault(key, cursor[key])
                    cursor[key] = now  # type: ignore[index]
                elif self._too_old(moment):
                    too_old.setdefault(key, cursor[key])
        for key, value in future.items():
            logger.warning(
                f"Stream '{self._stream}': the saved state {key}={value} is later than now ({now}); "
                f"it is clamped to {now}. Records changed between the previous sync and now may be missing: "
                "reset the stream to re-read them."
            )
        for key, value in too_old.items():
            if self._replays_log:
                logger.warning(
                    f"Stream '{self._stream}': the saved state {key}={value} is older than the {self._retention_days} "
                    "days Close keeps its event log, so records deleted in Close since then (and edits Close's date "
                    "filters do not show) can no longer be found: this sync brings new and changed records only. Run "
                    f"a full refresh of the stream to make it exact again, and sync at least every {self._retention_days} days."
                )
                continue
            logger.warning(
                f"Stream '{self._stream}': the saved state {key}={value} is older than the "
                f"{self._retention_days} days Close keeps, so what happened between then and "
                f"{self._retention_days} days ago is no longer available. Sync at least every "
                f"{self._retention_days} days to keep this stream complete."
            )
        return checked


@dataclass
class HasMorePaging(PaginationStrategy):
    """What both of Close's list pagings share: a page size from the manifest, and a next page only while Close
    says ``has_more``. Close computes ``has_more`` by fetching one row past the page, so it is exact: a short page
    can still be followed by more rows, and a full page can be the last one (which would cost an empty request)."""

    parameters: InitVar[Mapping[str, Any]]
    config: Config
    page_size: Optional[Any] = None

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        size = InterpolatedString.create(str(self.page_size), parameters=parameters).eval(self.config)
        self._page_size = int(size) if self.page_size is not None else None

    @property
    def initial_token(self) -> Optional[Any]:
        return None

    def get_page_size(self) -> Optional[int]:
        return self._page_size

    @staticmethod
    def rows_if_more(response: requests.Response) -> Optional[List[Mapping[str, Any]]]:
        """The rows Close served (not the ones a record filter kept) when another page follows, else None."""
        body = page_body(response)
        rows = body.get("data") if isinstance(body, dict) and body.get("has_more") else None
        return rows if rows else None


@dataclass
class HasMoreOffsetPagination(HasMorePaging):
    """Offset paging (``_skip``) that ends when Close says ``has_more: false``, not on a short page."""

    def next_page_token(
        self,
        response: requests.Response,
        last_page_size: int,
        last_record: Optional[Record],
        last_page_token_value: Optional[Any] = None,
        page_size_override: Optional[int] = None,
        stream_slice: Optional[StreamSlice] = None,
    ) -> Optional[Any]:
        rows = self.rows_if_more(response)
        return None if rows is None else (last_page_token_value or 0) + len(rows)


@dataclass
class KeysetPagination(HasMorePaging):
    """Pages a date window by the sort field's value, not by offset.

    Each next page asks for rows from the last value read on (``<field>__gte`` or the leads ``query``), skipping
    only the rows already read at that very value. With offsets, a record edited or deleted between two pages
    makes every later row move up one place, and the first row of the next page slides into a page already read:
    lost for good, since the state then passes it. Anchoring on the value leaves at most the rows that share the
    last instant exposed to that, and keeps ``_skip`` far below Close's ``max_skip`` on any window.

    The token is ``{"after": <value>, "skip": <rows of that instant to pass>, "key": ...}``; the manifest puts
    ``after`` and ``skip`` in the request. ``precision: minute`` is for the leads ``query``,
    which compares dates to the minute.
    """

    sort_field: str = ""
    precision: str = "microsecond"

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        self._stream = parameters.get("name", "")
        self._field = InterpolatedString.create(self.sort_field, parameters=parameters).eval(self.config)

    @property
    def field(self) -> str:
        """The field the list is sorted and paged by."""
        return self._field

    def _tie_key(self, value: Any) -> Optional[str]:
        moment = _parse_time(value)
        if moment is None:
            return None
        moment = moment.astimezone(timezone.utc)
        if self.precision == "minute":
            moment = moment.replace(second=0, microsecond=0)
        return moment.strftime(CURSOR_FORMAT)

    def next_page_token(
        self,
        response: requests.Response,
        last_page_size: int,
        last_record: Optional[Record],
        last_page_token_value: Optional[Any] = None,
        page_size_override: Optional[int] = None,
        stream_slice: Optional[StreamSlice] = None,
    ) -> Optional[Any]:
        rows = self.rows_if_more(response)
        if rows is None:
            return None
        previous = last_page_token_value or {}
        last_value = rows[-1].get(self._field)
        key = self._tie_key(last_value)
        if key is None:  # no usable value: go on by offset from the previous anchor
            return {**previous, "skip": previous.get("skip", 0) + len(rows)}
        tail = 0
        for row in reversed(rows):  # rows come sorted by the field, so the ties are the tail of the page
            if self._tie_key(row.get(self._field)) != key:
                break
            tail += 1
        # How deep into the run of rows sharing this instant the read is now.
        run = previous.get("skip", 0) + len(rows) if (tail == len(rows) and previous.get("key") == key) else tail
        # Re-read up to half a page of that run rather than skipping all of it: if a row of the run is edited or
        # deleted before the next request, the rest move up by one, and the overlap still covers them. The rows
        # re-read are dropped by id (`PageRows`), so nothing is emitted twice.
        overlap = min(run, max(1, (self._page_size or len(rows)) // 2))
        after = _parse_time(last_value).astimezone(timezone.utc).strftime(CURSOR_FORMAT)
        seen = [row.get("id") for row in rows[len(rows) - min(overlap, tail):]]
        token = {"after": after, "key": key, "skip": run - overlap}
        RereadRows.leave(self._stream, token, seen)  # for `PageRows`, which reads the page this token asks for
        return token


class RereadRows:
    """The ids a keyset page re-reads on purpose, from ``KeysetPagination`` (which asks for the page) to
    ``PageRows`` (which extracts it). The CDK parses a page's records without its page token, so the token cannot
    carry them. Assumption: a partition is read page after page on one thread, so the page a token asks for is
    the next one that thread extracts for that stream; the extractor still drops rows only from the answer to
    that very request (the same ``_skip`` and anchor value), so a wrong match drops nothing."""

    _pending: Dict[tuple, Dict[str, Any]] = {}  # (thread, stream) -> the token and the ids it re-reads

    @classmethod
    def leave(cls, stream: str, token: Mapping[str, Any], ids: Iterable[Any]) -> None:
        cls._pending[(threading.get_ident(), stream)] = {**token, "seen": set(ids)}

    @classmethod
    def take(cls, stream: str, response: requests.Response) -> set:
        """The ids to drop from ``response``: those left for it, if it answers the request they were left for."""
        pending = cls._pending.pop((threading.get_ident(), stream), None)
        if not pending:
            return set()
        request = getattr(response, "request", None)
        query = parse_qs(urlsplit(getattr(request, "url", "") or "").query)
        if query.get("_skip") != [str(pending["skip"])]:
            return set()
        asked = any(pending["after"] in value for values in query.values() for value in values)
        return pending["seen"] if asked else set()


@dataclass
class PageRows(RecordExtractor):
    """The records of a page: ``data`` of Close's list answer.

    The same as ``DpathExtractor(["data"])`` at a fraction of its cost (dpath walks every node of a page to find
    one key), less the rows ``KeysetPagination`` re-read on purpose, by id: the paginator leaves them in
    ``RereadRows`` for the page it asks for, as the CDK hands extractors no page token.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = parameters.get("name", "")

    def extract_records(self, response: requests.Response) -> Iterable[MutableMapping[Any, Any]]:
        body = page_body(response)
        rows = body.get("data") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            return
        reread = RereadRows.take(self._stream, response)
        if reread:
            rows = [row for row in rows if row.get("id") not in reread]
        yield from rows


def _is_datetime_schema(schema: Mapping[str, Any]) -> bool:
    return schema.get("format") == "date-time"


def _datetime_paths(schema: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """Where a schema declares ``format: date-time``, as a tree: ``{key: True}`` for a date-time value (or an array of
    them), ``{key: subtree}`` for an object (or an array of objects) holding some. None where there are none."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return None
    tree: Dict[str, Any] = {}
    for key, sub in properties.items():
        if not isinstance(sub, Mapping):
            continue
        items = sub.get("items") if isinstance(sub.get("items"), Mapping) else None
        if _is_datetime_schema(sub) or (items is not None and _is_datetime_schema(items)):
            tree[key] = True
            continue
        nested = _datetime_paths(items if items is not None else sub)
        if nested:
            tree[key] = nested
    return tree or None


def with_utc_offset(value: Any) -> Any:
    """A naive ISO date-time (Close means UTC) with ``+00:00`` added; any other value as it is."""
    if isinstance(value, str) and len(value) >= 19 and value[10] == "T" and value[-1] != "Z" and "+" not in value[19:] and "-" not in value[19:]:
        return value + "+00:00"
    return value


def _apply_utc(node: Any, tree: Mapping[str, Any]) -> None:
    if isinstance(node, list):
        for item in node:
            _apply_utc(item, tree)
        return
    if not isinstance(node, dict):
        return
    for key, sub in tree.items():
        value = node.get(key)
        if value is None:
            continue
        if sub is True:
            node[key] = [with_utc_offset(v) for v in value] if isinstance(value, list) else with_utc_offset(value)
        else:
            _apply_utc(value, sub)


@dataclass
class UtcDateTimes(TypeTransformer):
    """Gives every value a stream's schema declares ``format: date-time`` an explicit UTC offset.

    Close sends naive timestamps (meant as UTC) on events, pipelines, sequences, dialer sessions, custom activity
    types and roles, next to offset-carrying ones everywhere else. Destinations read ``date-time`` columns as
    "with time zone" and either refuse a naive value or read it in their own zone; RFC 3339 requires the offset.
    Driven by the schema of the stream being read (custom field columns included), so it is said once, here, for
    every stream; values already carrying an offset, dates and non-date-time fields are left untouched."""

    parameters: InitVar[Mapping[str, Any]]
    config: Config

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        # id(schema) -> (schema, paths): a stream hands the same schema object for every page of a partition.
        self._paths: Dict[int, tuple] = {}

    def transform(self, record: Dict[str, Any], schema: Mapping[str, Any]) -> None:
        known = self._paths.get(id(schema))
        if known is None or known[0] is not schema:
            if len(self._paths) > 8:
                self._paths.clear()
            known = self._paths[id(schema)] = (schema, _datetime_paths(schema))
        if known[1]:
            _apply_utc(record, known[1])


@dataclass
class DropKeys(RecordTransformation):
    """Removes top-level keys (``RemoveFields`` walks every node of every record with dpath to do the same)."""

    parameters: InitVar[Mapping[str, Any]]
    keys: List[str] = field(default_factory=list)

    def transform(
        self,
        record: MutableMapping[str, Any],
        config: Optional[Config] = None,
        stream_state: Optional[StreamState] = None,
        stream_slice: Optional[StreamSlice] = None,
    ) -> None:
        for key in self.keys:
            record.pop(key, None)


@dataclass
class DeletedRecordRow(RecordTransformation):
    """Turns a ``deleted`` entry of the event log into one row a warehouse can soft-delete by."""

    def transform(
        self,
        record: MutableMapping[str, Any],
        config: Optional[Config] = None,
        stream_state: Optional[StreamState] = None,
        stream_slice: Optional[StreamSlice] = None,
    ) -> None:
        event = dict(record)
        record.clear()
        record.update(
            {
                "id": event.get("id"),
                "object_type": event.get("object_type"),
                "object_id": event.get("object_id"),
                "lead_id": event.get("lead_id"),
                "date_deleted": event.get("date_created") or event.get("date_updated"),
                "user_id": event.get("user_id"),
                "previous_data": event.get("previous_data"),
            }
        )


# ---------------------------------------------------------------------------------------------------------------
# Change capture: what Close's event log says changed, replayed into each object stream
# ---------------------------------------------------------------------------------------------------------------

# Close keeps its event log this long.
EVENT_LOG_DAYS = 30
# Close may show a change some minutes after the time it carries (an event logged or consolidated late, a record
# its search index lists late): a stream's position stays this far behind the sync's upper bound, and each replay
# starts this much before the position.
SETTLING_TIME = timedelta(minutes=10)
# Ids per `id__in` request: the largest page Close's activity lists serve.
IDS_PER_REQUEST = 100
DELETED_AT = "_ab_cdc_deleted_at"


@dataclass(frozen=True)
class HistoryPlan:
    """How a history sync (no saved position) reads one stream, decided from one read over its whole range.

    Most of an account's streams hold less than a few pages, often years after the start date: cut into date
    windows, each would cost a request per window (most of them empty) and a partial page at each window's end.
    So the first window read asks for the whole range, from the start date to now, and looks at its first page:

    - all the stream's records fit in it, or the density it shows promises at most ``walk_pages`` pages: that read
      goes on to the end (``walked_until``, now) and every window ending by then is skipped, the newest included
      (its end, the sync's upper bound, was fixed before any window was read);
    - more: the first page is dropped and the windows are read in parallel, except those ending before the oldest
      record (``oldest``), which hold nothing.

    A list served newest first (the event log) shows its busiest minutes first, so its first page tells little of
    the rest: its walk goes on for up to ``walk_pages`` pages while the other windows wait, and when it has not
    reached the start by then it keeps what is newer than its last value (``newer_than``) and leaves the rest to
    the windows, which read only up to that value (``clip``). Whatever the order a list pages in, the walk is one read of one window, paged as the stream's
    windows are.
    """

    oldest: Optional[datetime] = None
    walked_until: Optional[datetime] = None
    newer_than: Optional[datetime] = None

    def covers(self, window_start: Optional[datetime], window_end: Optional[datetime]) -> bool:
        """Whether a window holds nothing left to read."""
        if window_end is None:
            return False
        if self.walked_until is not None:
            return window_end <= self.walked_until
        if self.newer_than is not None:
            return window_start is not None and window_start > self.newer_than
        return self.oldest is not None and window_end < self.oldest

    def clip(self, window: StreamSlice) -> StreamSlice:
        """The part of a window the walk left to it: up to the walk's last value (inclusive) when the walk stopped
        inside the window, else the whole window."""
        end = _parse_time(window.get("end_time"))
        if self.newer_than is None or end is None or end <= self.newer_than:
            return window
        return StreamSlice(partition=window.partition, extra_fields=window.extra_fields, cursor_slice={
            **window.cursor_slice, "end_time": self.newer_than.astimezone(timezone.utc).strftime(CURSOR_FORMAT),
        })

    @staticmethod
    def probe(
        read: Any, start: datetime, cursor_field: str, page_size: Optional[int], walk_pages: int, ascending: bool = True,
    ) -> "tuple[HistoryPlan, Optional[Iterable[Any]]]":
        """The plan, and the walk's records when it is one walk (its first page already read). The first page of
        a list served newest first tells its density, but not where its data begins."""
        now = datetime.now(timezone.utc)
        whole = StreamSlice(partition={}, cursor_slice={
            "start_time": start.strftime(CURSOR_FORMAT), "end_time": now.strftime(CURSOR_FORMAT),
        })
        records = iter(read(whole))  # a slice -> its records
        first_page = list(itertools.islice(records, page_size or 1))
        # Lists are sorted by the cursor, tasks by creation (which no update precedes): both fields bound the oldest.
        by_field = [
            [moment for moment in (_parse_time(record.get(name)) for record in first_page) if moment]
            for name in dict.fromkeys((cursor_field, "date_created"))
        ]
        times = [moment for moments in by_field for moment in moments]
        oldest = min(times) if times else (start if first_page else None)
        if len(first_page) < (page_size or 1):  # the whole range was one page (or none)
            return HistoryPlan(oldest=oldest, walked_until=now), first_page
        if not ascending and walk_pages > 1 and page_size:
            walked = first_page + list(itertools.islice(records, (walk_pages - 1) * page_size))
            if len(walked) < walk_pages * page_size:
                return HistoryPlan(walked_until=now), walked
            _close(records)
            last = _parse_time(walked[-1].get(cursor_field))
            if last is None:
                return HistoryPlan(), None
            return HistoryPlan(newer_than=last), [r for r in walked if (_parse_time(r.get(cursor_field)) or last) > last]
        # The page's spread along the order it was served in: the narrower of the two fields' spreads.
        span = min((max(moments) - min(moments) for moments in by_field if moments), default=timedelta(0))
        if ascending and page_size and span > timedelta(0) and (now - oldest) / span <= walk_pages:
            return HistoryPlan(oldest=oldest, walked_until=now), itertools.chain(first_page, records)
        _close(records)
        return HistoryPlan(oldest=oldest if ascending else None), None


def _once_each(records: Iterable[Any], cursor_field: str) -> Iterator[Any]:
    """A read's records without those it reads again. A read restarted from its last cursor value (the CDK's
    pagination reset: Close's search cursor expired, or a walk near Close's 10,000 results) asks from that value
    on, inclusive, and so reads again the records of that instant it had emitted; they are dropped here. Only
    the ids of the latest instant are kept."""
    instant: Any = None
    seen: set = set()
    read = iter(records)
    try:
        for record in read:
            value, key = record.get(cursor_field), record.get("id")
            if value != instant:
                instant, seen = value, set()
            elif key is not None and key in seen:
                continue
            if key is not None:
                seen.add(key)
            yield record
    finally:
        _close(read)


def _close(records: Iterable[Any]) -> None:
    """Ends a read left half done (a generator's requests stop there)."""
    close = getattr(records, "close", None)
    if close is not None:
        close()


def _under_slice(records: Iterable[Any], stream: str, window: Optional[StreamSlice]) -> Iterator[Record]:
    """Records read for a part of a window, as the window's own: the CDK's cursor keeps its position per slice
    (the record's data is not copied)."""
    for record in records:
        data = record.data if isinstance(record, Record) else record
        yield Record(data=data, stream_name=stream, associated_slice=window)


def _moment(value: Any) -> Optional[datetime]:
    """A cursor value as a time, the fast way first (the walks below read one per record once split)."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return _parse_time(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return None


@dataclass(eq=False)
class _Walk:
    """One keyset read of a range of a window: from ``start`` to ``end`` (both inclusive), emitting nothing from
    ``cut`` on once another walk took the rest. ``position`` and ``page_span`` are those of its last page."""

    start: datetime
    end: datetime
    cut: Optional[datetime] = None
    position: Optional[datetime] = None
    page_span: Optional[timedelta] = None

    def pages_ahead(self) -> float:
        """How many pages the walk has left, by the span of its last page: 0 before its first page, and after a page
        of one instant, which tells nothing of what follows it."""
        if self.position is None or not self.page_span:
            return 0.0
        return ((self.cut or self.end) - self.position) / self.page_span


_WALK_DONE = object()


class WindowWalks:
    """Reads one date window with up to ``width`` walks at once, so that a dense window is not paged one request
    after another at the end of a sync while its endpoint group has room for more.

    Keyset paging reads any range correctly, so a walk can give away the far half of what it has left: whenever a
    walk ends a page with at least ``2 * MIN_PAGES`` pages ahead of it (by that page's span) while fewer than
    ``width`` walks run, a new walk takes the range from the middle of what is left, rounded down to a whole
    minute (lead queries compare dates to the minute), and the old walk emits nothing from there on and stops
    when it gets there. A walk that ends splits the walk with the most pages ahead. Each split costs at most one
    partial page. Pages reach the window's reader through a short queue, so walks wait for a slow destination
    instead of filling memory.
    """

    MIN_PAGES = 4

    def __init__(self, read: Any, stream: str, window: StreamSlice, cursor_field: str, page_size: int, width: int) -> None:
        self._read = read  # a slice -> its records
        self._stream = stream
        self._window = window
        self._cursor_field = cursor_field
        self._page_size = page_size
        self._width = width
        self._thread_name = f"{threading.current_thread().name}-walk"
        self._lock = threading.Lock()
        self._running: List[_Walk] = []
        self._launched = 0
        self._pages: "queue.Queue[Any]" = queue.Queue(maxsize=2 * width)
        self._stopped = threading.Event()

    def __iter__(self) -> Iterator[Any]:
        start, end = _moment(self._window.get("start_time")), _moment(self._window.get("end_time"))
        if start is None or end is None:
            yield from self._read(self._window)
            return
        with self._lock:
            self._start(_Walk(start=start, end=end))
        done = 0
        try:
            while True:
                item = self._pages.get()
                if item is _WALK_DONE:
                    done += 1
                    with self._lock:
                        if done == self._launched:
                            return
                elif isinstance(item, BaseException):
                    raise item
                else:  # a page of the window's records, whichever walk read it
                    yield from _under_slice(item, self._stream, self._window)
        finally:
            self._stopped.set()

    def _start(self, walk: _Walk) -> None:
        """Runs a walk on a thread of its own (under the lock)."""
        self._running.append(walk)
        self._launched += 1
        threading.Thread(target=self._walk, args=(walk,), name=self._thread_name, daemon=True).start()

    def _walk(self, walk: _Walk) -> None:
        try:
            part = StreamSlice(
                partition=self._window.partition, extra_fields=self._window.extra_fields,
                cursor_slice={"start_time": walk.start.strftime(CURSOR_FORMAT), "end_time": walk.end.strftime(CURSOR_FORMAT)},
            )
            records = iter(self._read(part))
            try:
                page: List[Any] = []
                for record in records:
                    if not self._before_cut(walk, record):
                        break  # the rest is another walk's
                    page.append(record)
                    if len(page) == self._page_size:
                        goes_on, page = self._hand_on(walk, page, full=True), []
                        if not goes_on:
                            break
                if page:
                    self._hand_on(walk, page, full=False)
            finally:
                _close(records)
            with self._lock:
                self._running.remove(walk)
                if self._running and not self._stopped.is_set():
                    self._split(max(self._running, key=_Walk.pages_ahead))
        except BaseException as error:  # the window's reader raises it
            self._put(error)
        finally:
            self._put(_WALK_DONE)

    def _before_cut(self, walk: _Walk, record: Mapping[str, Any]) -> bool:
        if walk.cut is None:
            return True
        moment = _moment(record.get(self._cursor_field))
        return moment is None or moment < walk.cut

    def _hand_on(self, walk: _Walk, page: List[Any], full: bool) -> bool:
        """Emits a page (what of it comes before the walk's cut) and splits the walk when it is worth it; whether
        the walk goes on."""
        with self._lock:
            kept = [record for record in page if self._before_cut(walk, record)]
            full = full and len(kept) == len(page)
            # What the walk emitted ends at its position: a split only ever cuts past it.
            first = _moment(kept[0].get(self._cursor_field)) if kept else None
            last = _moment(kept[-1].get(self._cursor_field)) if kept else None
            walk.position = last or walk.position
            walk.page_span = (last - first) if (full and first and last) else None
            if walk.page_span is not None:
                self._split(walk)
        if kept:
            self._put(kept)
        return full and not self._stopped.is_set()

    def _split(self, walk: _Walk) -> None:
        """Gives the far half of what ``walk`` has left to a new walk, when there is room for one and enough pages
        to share (under the lock)."""
        if len(self._running) >= self._width or walk.pages_ahead() < 2 * self.MIN_PAGES:
            return
        end = (walk.cut - timedelta(microseconds=1)) if walk.cut is not None else walk.end
        middle = (walk.position + (end - walk.position) / 2).replace(second=0, microsecond=0)
        if middle <= walk.position or middle > end:
            return
        walk.cut = middle
        self._start(_Walk(start=middle, end=end))

    def _put(self, item: Any) -> None:
        while not self._stopped.is_set():
            try:
                self._pages.put(item, timeout=0.5)
                return
            except queue.Full:
                continue


@dataclass
class DateWindowsRetriever(Retriever):
    """Reads a stream's date windows (the CDK's slices, each read by ``windows``) so that requests follow the data:

    - in a history sync (the cursor starts at ``start``: no saved position) by the stream's ``HistoryPlan``: one
      walk when the history is short, else the windows from its oldest record on;
    - the newest window, the one ending at the sync's upper bound (later than this retriever's creation), then
      *observes* its end less ``SETTLING_TIME`` on the cursor. The CDK saves the newest cursor value observed, not a
      window's end, so without it a quiet stream's position would stay at its newest record and every sync would
      read again the months since.
    """

    windows: Retriever
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    cursor: Optional[Any] = None
    name: str = ""
    start: str = ""  # the cursor's start without a saved position (its `start_datetime`)
    page_size: Optional[int] = None  # for lists whose paginator does not state its page size
    ascending: bool = True  # whether the list serves oldest first (the event log serves newest first)
    walk_pages: Union[int, str] = 0  # the longest history read in one walk, in pages (0: windows only)
    walks_per_window: Union[int, str] = 1  # how many walks may read one window at once (``WindowWalks``)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = parameters.get("name") or self.name
        self._created_at = datetime.now(timezone.utc)
        self._configured_start = _parse_time(InterpolatedString.create(self.start, parameters=parameters).eval(self.config))
        # The cursor starts at the saved position, or at the configured start when there is none (a history sync).
        start = getattr(self.cursor, "start", None)
        start = start.replace(tzinfo=start.tzinfo or timezone.utc) if isinstance(start, datetime) else None
        self._saved_position = start if start and self._configured_start and start > self._configured_start else None
        # The size of the stream's pages: its paginator's, or the one its shape states (searches).
        strategy = getattr(getattr(self.windows, "paginator", None), "pagination_strategy", None)
        size = (strategy.get_page_size() if strategy is not None else None) or self.page_size
        self._page_size = int(size) if size else None
        self._walk_pages = int(InterpolatedString.create(str(self.walk_pages), parameters=parameters).eval(self.config) or 0)
        # Walks split a window along the order its list is served in, which must be the cursor's: keyset lists name
        # their sort field, searches sort by the cursor. Other lists, or none stated: one walk per window.
        width = int(InterpolatedString.create(str(self.walks_per_window), parameters=parameters).eval(self.config) or 1)
        in_cursor_order = self.cursor is not None and self.ascending and getattr(strategy, "field", None) in (None, self._cursor_field)
        self._walks_per_window = width if (in_cursor_order and self._page_size) else 1
        self._history_lock = threading.Lock()
        self._history: Optional[HistoryPlan] = None  # a history sync's plan, made by the first window read

    def read_records(self, records_schema: Mapping[str, Any], stream_slice: Optional[StreamSlice] = None) -> Iterable[Any]:
        upper = self._sync_upper_bound(stream_slice)
        if self._saved_position is not None or self.cursor is None or self._configured_start is None:
            yield from self._read_window(records_schema, stream_slice)
        else:
            history, walk = self._history_plan(records_schema)
            if walk is not None:  # this window asked first: it emits the walk, under its own slice
                yield from _under_slice(walk, self._stream, stream_slice)
            window = stream_slice or {}
            if not history.covers(_parse_time(window.get("start_time")), _parse_time(window.get("end_time"))):
                part = history.clip(stream_slice) if stream_slice else stream_slice
                records = self._read_window(records_schema, part)
                yield from (records if part is stream_slice else _under_slice(records, self._stream, stream_slice))
        if upper is None:
            return
        yield from self._newest_window_extras(records_schema, stream_slice)
        settled = (_parse_time(upper) - SETTLING_TIME).strftime(CURSOR_FORMAT)
        self.cursor.observe(Record(data={self._cursor_field: settled}, stream_name=self._stream, associated_slice=stream_slice))

    def _read_window(self, records_schema: Mapping[str, Any], stream_slice: Optional[StreamSlice]) -> Iterable[Any]:
        """A window's records: read by up to ``walks_per_window`` walks when its list is served in cursor order."""
        if self._walks_per_window > 1 and stream_slice:
            return WindowWalks(
                lambda part: self._read(records_schema, part), self._stream, stream_slice, self._cursor_field,
                self._page_size, self._walks_per_window,
            )
        return self._read(records_schema, stream_slice)

    def _read(self, records_schema: Mapping[str, Any], stream_slice: Optional[StreamSlice]) -> Iterable[Any]:
        """One read of a slice by ``windows``, each record once (``_once_each``)."""
        return _once_each(self.windows.read_records(records_schema, stream_slice), self._cursor_field)

    def _newest_window_extras(self, records_schema: Mapping[str, Any], stream_slice: StreamSlice) -> Iterable[Any]:
        """What the newest window reads besides its own range, once per sync: nothing here."""
        return ()

    @property
    def _cursor_field(self) -> str:
        return self.cursor.cursor_field.cursor_field_key

    def _history_plan(self, records_schema: Mapping[str, Any]) -> "tuple[HistoryPlan, Optional[Iterable[Any]]]":
        """The history sync's plan for this stream, made by the first window to ask, with the rest of the walk
        for that window to emit when the plan is one walk (None for every other window)."""
        with self._history_lock:
            if self._history is not None:
                return self._history, None
            self._history, walk = HistoryPlan.probe(
                lambda part: self._read(records_schema, part), self._configured_start, self._cursor_field, self._page_size,
                self._walk_pages, self.ascending,
            )
            return self._history, walk

    def _sync_upper_bound(self, stream_slice: Optional[StreamSlice]) -> Optional[str]:
        """The newest window's end, the sync's upper bound (None for every other window, or without a cursor)."""
        if self.cursor is None or not hasattr(self.cursor, "observe") or not stream_slice:
            return None
        end = stream_slice.get("end_time")
        moment = _parse_time(end)
        return end if moment is not None and moment >= self._created_at else None


@dataclass
class ReplicaRetriever(DateWindowsRetriever):
    """Reads an object stream's date windows (``DateWindowsRetriever``) and, in an incremental sync, replays the
    changes Close's event log shows since the saved position, so that a destination deduplicating by primary key
    holds what Close holds:

    - a record deleted since (its ``deleted`` event, cascades and merged leads included) becomes a row of its id
      with the deletion time in ``_ab_cdc_deleted_at``, which deduplicated destinations apply as a delete. The
      cursor field carries the same time, so that deduplication ranks the row after the record's last version;
    - ``replayed_actions`` with ``updated`` (activities, which Close filters by creation date only): each record
      edited since is fetched again, ``IDS_PER_REQUEST`` ids a request (``id__in``);
    - ``follows_merges`` (activities): Close moves a merged lead's activities to the destination lead and logs
      only ``merged`` on that lead, so the destination lead's activities are read again.

    Streams filtered by ``date_updated`` see their edits in their windows already, and replay deletions only.
    The replay runs once per sync, in the newest window, and starts ``SETTLING_TIME`` before the saved position.
    Replayed rows arrive out of cursor order, which the CDK notes but does not act on. Events' ``data`` is not
    used: keys of non-admin users see it for an hour only. Nothing is replayed without a saved position (the
    windows read every live record), nor from one older than the log (``SavedStateCheck`` warns).
    """

    api: Optional[Requester] = None
    event_object_type: str = ""
    replayed_actions: List[str] = field(default_factory=lambda: ["deleted"])
    follows_merges: bool = False

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        self._endpoint = stream_endpoint(parameters)
        # The object type the log names the stream's records by: the shape's (tasks, searches) or the stream's own.
        object_type = self.event_object_type or parameters.get("event_object_type") or ""
        self._object_type = InterpolatedString.create(object_type, parameters=parameters).eval(self.config)
        self._warned = False

    def _newest_window_extras(self, records_schema: Mapping[str, Any], stream_slice: StreamSlice) -> Iterable[Any]:
        since = self._replay_since()
        return self._replay(records_schema, stream_slice, since) if since is not None else ()

    def _replay_since(self) -> Optional[datetime]:
        """Where the replay starts: the saved position, less the settling time. None in a history sync or when the
        position is older than what the log keeps."""
        position = self._saved_position
        if position is None or position < datetime.now(timezone.utc) - timedelta(days=EVENT_LOG_DAYS):
            return None
        return position - SETTLING_TIME

    def _replay(self, records_schema: Mapping[str, Any], stream_slice: StreamSlice, since: datetime) -> Iterable[Any]:
        since_text = since.strftime(CURSOR_FORMAT)
        deleted: Dict[str, str] = {}
        # Created and lead-merge activities have no events of their own: only the merges of their leads show.
        actions = self.replayed_actions if self._object_type else []
        if "deleted" in actions:
            for event in self._events(self._object_type, "deleted", since_text):
                when = with_utc_offset(event.get("date_created") or event.get("date_updated"))
                if event.get("object_id") and when:
                    deleted.setdefault(event["object_id"], when)
        if "updated" in actions:
            edited = list(dict.fromkeys(
                event["object_id"] for event in self._events(self._object_type, "updated", since_text)
                if event.get("object_id") and event["object_id"] not in deleted
            ))
            for first in range(0, len(edited), IDS_PER_REQUEST):
                batch = edited[first:first + IDS_PER_REQUEST]
                asked = set(batch)
                # One page holds the batch; keeping only its ids guards against a list that ignored the filter.
                page = self._listed(records_schema, stream_slice, {"id__in": ",".join(batch), "_limit": len(batch)}, every_page=False)
                yield from (record for record in page if record.get("id") in asked)
        if self.follows_merges:
            destinations = dict.fromkeys(event.get("object_id") for event in self._events("lead", "merged", since_text))
            for lead_id in filter(None, destinations):
                yield from self._listed(records_schema, stream_slice, {"lead_id": lead_id, "_limit": IDS_PER_REQUEST})
        for object_id, when in deleted.items():
            yield Record(
                data={"id": object_id, self._cursor_field: when, DELETED_AT: when},
                stream_name=self._stream,
                associated_slice=stream_slice,
            )

    def _events(self, object_type: str, action: str, since: str) -> Iterable[Mapping[str, Any]]:
        """Every event of one object type and action since ``since`` (one of the filter combinations Close
        documents), newest first, 50 a page."""
        params: Dict[str, Any] = {"object_type": object_type, "action": action, "date_updated__gte": since, "_limit": 50}
        while True:
            body = self._page("event/", params)
            if body is None:
                return
            yield from (event for event in body.get("data") or [] if isinstance(event, Mapping))
            if not body.get("cursor_next"):
                return
            params = {**params, "_cursor": body["cursor_next"]}

    def _listed(
        self, records_schema: Mapping[str, Any], stream_slice: StreamSlice, params: Mapping[str, Any], every_page: bool = True
    ) -> Iterable[Record]:
        """The stream's own list asked with ``params``, through its record selector, records from the start date
        on; every page (``has_more``) unless told otherwise."""
        params = dict(params)
        while True:
            response = self.api.send_request(path=self._endpoint, request_params=params)
            if response is None or response.status_code != 200:
                return
            for record in self.windows.record_selector.select_records(  # type: ignore[attr-defined]
                response=response, stream_state={}, records_schema=records_schema, stream_slice=stream_slice
            ):
                moment = _parse_time(record.get(self._cursor_field))
                if moment is None or self._configured_start is None or moment >= self._configured_start:
                    yield record
            rows = HasMorePaging.rows_if_more(response)
            if rows is None or not every_page:
                return
            params["_skip"] = int(params.get("_skip") or 0) + len(rows)

    def _page(self, path: str, params: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
        response = self.api.send_request(path=path, request_params=params)
        if response is not None and response.status_code == 200:
            body = page_body(response)
            return body if isinstance(body, Mapping) else None
        if not self._warned:  # a 403: the key may not read the event log (the error handler settled the rest)
            self._warned = True
            logger.warning(
                f"Stream '{self._stream}': this API key may not read Close's event log ({_public_url(getattr(response, 'url', None))}, "
                f"{getattr(response, 'status_code', 'no answer')}), so records deleted in Close since the last sync stay "
                "in the destination, and edits Close's date filters do not show are not synced. Give the key's user "
                "access to the event log, or run a full refresh of the stream now and then."
            )
        return None


_LOOPBACK_NAMES = {"localhost"}


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ApiUrlIsSafe(ValidationStrategy):
    """``api_url`` must be https, or plain http to a loopback host (the simulator): the key travels in
    every request's Authorization header and must never cross a network in clear text."""

    def validate(self, value: Any) -> None:
        if value in (None, ""):
            return
        parts = urlsplit(str(value))
        if parts.scheme == "https" and parts.hostname:
            return
        if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
            return
        raise AirbyteTracedException(
            message=(
                "The 'api_url' setting must be an https:// URL such as https://api.close.com/api/v1/ "
                "(plain http:// is accepted only for a loopback host such as 127.0.0.1). "
                "Remove 'api_url' from the config to use Close's API."
            ),
            internal_message=f"api_url rejected: scheme={parts.scheme!r} host={parts.hostname!r}",
            failure_type=FailureType.config_error,
        )


@dataclass
class StartDateIsReal(ValidationStrategy):
    """``start_date`` must be a real calendar day (the spec's pattern accepts 2021-02-30) and not in the future."""

    def validate(self, value: Any) -> None:
        if value in (None, ""):
            return
        try:
            day = datetime.strptime(str(value), "%Y-%m-%d").replace(tzinfo=timezone.utc)
        except ValueError:
            problem = "is not a real date"
        else:
            if day <= datetime.now(timezone.utc):
                return
            problem = "is in the future"
        raise AirbyteTracedException(
            message=(
                f"The 'start_date' setting {problem} (it is {value!r}): write a past day as YYYY-MM-DD, such as "
                "2021-01-01, or leave it empty to sync the full history."
            ),
            failure_type=FailureType.config_error,
        )


# Close custom field type -> JSON schema of one value (text, textarea, choices, hidden, user, contact and
# custom_object values are strings: free text, a choice label or an object id).
_CUSTOM_FIELD_VALUE = {
    "number": {"type": "number"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
}


def custom_field_property(definition: Mapping[str, Any]) -> Dict[str, Any]:
    """The schema of one ``custom.cf_<id>`` column: typed from the field's type, an array when the field accepts
    several values, always nullable, titled with the field's name."""
    value = dict(_CUSTOM_FIELD_VALUE.get(definition.get("type") or "", {"type": "string"}))
    if definition.get("accepts_multiple_values"):
        schema: Dict[str, Any] = {"type": ["null", "array"], "items": value}
    else:
        schema = {**value, "type": ["null", value["type"]]}
    kind = f"{definition.get('type') or 'text'}{', multiple values' if definition.get('accepts_multiple_values') else ''}"
    schema["title"] = definition.get("name") or definition.get("id")
    schema["description"] = (definition.get("description") or "").strip() or f"Close custom field ({kind})."
    return schema


class SharedFieldDefinitions:
    """Close's shared custom field definitions (``custom_field/shared/``), read once for all the streams whose
    schema needs them (``CustomFieldColumns`` of leads, contacts, opportunities, activities, custom objects), by
    digest of API URL and key. Assumption: the schemas of one sync or discover are built within seconds of one
    another; after ``MEMORY_S`` the definitions are read afresh."""

    MEMORY_S = 10.0
    _remembered: Dict[str, tuple] = {}  # digest -> (when, definitions or None)
    _lock = threading.Lock()

    @classmethod
    def get(cls, config: Mapping[str, Any], read: Any) -> Optional[List[Mapping[str, Any]]]:
        """The definitions, from memory or ``read()`` (None when the key may not read them)."""
        key = _key_fingerprint(config)
        with cls._lock:
            remembered = cls._remembered.get(key)
            if remembered is None or time.monotonic() - remembered[0] > cls.MEMORY_S:
                remembered = cls._remembered[key] = (time.monotonic(), read())
        return remembered[1]


@dataclass
class CustomFieldColumns(SchemaLoader):
    """The stream's static schema plus one typed column per custom field *this* account defines.

    Close sends each custom field value as a flat ``custom.cf_<id>`` key; the definitions come from
    ``custom_field/<object>/`` and the shared fields associated with the object (``custom_field/shared/``).
    Nothing here knows any field id. A key that may not read definitions (403) keeps the static schema, with a
    warning. The schema is built once per run.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    static_schema: SchemaLoader
    requester: Requester
    custom_field_object: str = ""

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._object = self.custom_field_object or parameters.get("custom_field_object", "")
        self._stream = parameters.get("name", self._object)
        self._schema: Optional[Mapping[str, Any]] = None

    def get_json_schema(self) -> Mapping[str, Any]:
        if self._schema is None:
            schema = copy.deepcopy(dict(self.static_schema.get_json_schema()))
            definitions = self._definitions()
            if definitions is not None:
                properties = schema.setdefault("properties", {})
                for definition in definitions:
                    properties[f"custom.{definition['id']}"] = custom_field_property(definition)
            self._schema = schema
        return self._schema

    def _definitions(self) -> Optional[List[Mapping[str, Any]]]:
        own = self._list(f"custom_field/{self._object}/")
        shared = self._shared()
        if own is None or shared is None:
            logger.warning(
                f"Stream '{self._stream}' is synced in full, but this API key may not read Close's custom field "
                f"definitions (custom_field/{self._object}/ or custom_field/shared/, 403 Forbidden): its custom field "
                "values arrive as custom.cf_<id> keys without a column type or title. Ask a Close admin to give the "
                "key's user access to custom fields if you want them typed."
            )
            return None
        associated = [
            d for d in shared if any(a.get("object_type") in self._association_types() for a in d.get("associations") or [])
        ]
        by_id = {d["id"]: d for d in own + associated if d.get("id")}
        return list(by_id.values())

    def _association_types(self) -> tuple:
        return ("activity", "custom_activity_type") if self._object == "activity" else (self._object,)

    def _shared(self) -> Optional[List[Mapping[str, Any]]]:
        """Shared fields serve several streams: read once per sync (``SharedFieldDefinitions``), not per stream."""
        return SharedFieldDefinitions.get(self.config, lambda: self._list("custom_field/shared/"))

    def _list(self, path: str) -> Optional[List[Mapping[str, Any]]]:
        """Every definition at ``path`` (offset paging on has_more), or None when the key may not read it."""
        rows: List[Mapping[str, Any]] = []
        while True:
            response = self.requester.send_request(path=path, request_params={"_limit": 1000, "_skip": len(rows)})
            if response is None or response.status_code != 200:
                return None
            body = page_body(response)
            rows.extend(body.get("data") or [])
            if HasMorePaging.rows_if_more(response) is None:
                return rows


@dataclass
class CloseKeyAuth(BasicHttpAuthenticator):
    """HTTP Basic with the API key as username and an empty password, as Close asks. The encoded header value is
    as secret as the key: it is registered with the CDK's secret filter, so debug logs of outbound requests
    (which include their headers) show ``****`` instead. Once Close has rejected the key, no request is sent
    with it again (``RejectedKeys``): the stream fails at once with the same config error (``rejected_message``,
    the manifest's words for a 401)."""

    rejected_message: str = "Close rejected the API key (401 Unauthorized)."

    @property
    def token(self) -> str:
        if RejectedKeys.includes(self.config):
            raise AirbyteTracedException(message=self.rejected_message, failure_type=FailureType.config_error)
        return self._signed

    @functools.cached_property
    def _signed(self) -> str:
        """The header value, made once: the config does not change during a run, and its templates are costly
        to evaluate for every request."""
        token = super().token
        encoded = token.split(" ", 1)[1]
        if filter_secrets(encoded) == encoded:
            add_to_secrets(encoded)
        return token

    @functools.cached_property
    def _pacer(self) -> "ClosePacer":
        return KeyPacers.of(self.config)  # the key's, shared with its other streams

    def __call__(self, request: requests.PreparedRequest) -> Any:
        """Called just before each send (and each retry): sign the request, then let it go when the key's pacer
        (``ClosePacer``) says Close has room for it; its answer goes back to the pacer (``_on_answer``)."""
        request = super().__call__(request)
        self._pacer.acquire(request)
        hooks = request.hooks.setdefault("response", [])
        if self._on_answer not in hooks:
            hooks.append(self._on_answer)
        return request

    def _on_answer(self, response: requests.Response, **send_kwargs: Any) -> requests.Response:
        """Learns from every answer; a 429 is waited out and the same request sent again, for at most
        ``MAX_THROTTLED_S`` in all. The 429 that outlasts it is handed on to the error handler, which fails the stream."""
        pacer = self._pacer
        pacer.learn(response)
        if response.status_code != 429:
            return response
        request = response.request
        started = time.monotonic()
        blind_waits = 0
        while response.status_code == 429:
            pacer.throttled(response)
            wait = throttle_wait(response)
            if wait is None:  # no wait named: a short pause that grows, as Close gave no reset to go by
                wait = min(0.25 * 2**blind_waits, 10.0)
                blind_waits += 1
            if time.monotonic() - started + wait > MAX_THROTTLED_S:
                pacer.throttle_over(request, gave_up=True)
                return response
            time.sleep(wait)
            response.content  # read to the end, so the connection goes back to the pool
            response.close()
            pacer.acquire(request)
            connection = response.connection
            try:
                response = connection.send(request, **send_kwargs)
            except Exception:
                pacer.throttle_over(request, gave_up=True)
                raise
            pacer.learn(response)
        pacer.throttle_over(request, gave_up=False)
        return response


# ---------------------------------------------------------------------------------------------------------------
# Pacing on Close's own rate-limit answers
# ---------------------------------------------------------------------------------------------------------------

# How long one request may wait on 429s in all before its stream fails (the manifest's `throttled` filter says so).
MAX_THROTTLED_S = 15 * 60.0
# Two answers whose windows end within this many seconds may be one counter: Close rounds `reset` up to whole seconds.
_WINDOW_TOLERANCE_S = 1.25
# A path never answered yet sends one request at a time until Close's answer shows which counter it spends; a probe
# that never answers stops holding the others back after this long.
_PROBE_PATIENCE_S = 5.0
_RATELIMIT_FIELDS = re.compile(r"(limit|remaining|reset)\s*=\s*([0-9]+(?:\.[0-9]+)?)", re.IGNORECASE)


@dataclass(frozen=True)
class RateLimitReading:
    """What one answer says of the counter it was charged to: ``limit`` per window, ``remaining`` in it, and
    ``reset`` seconds until it refills. Every spelling Close has used: ``RateLimit: limit=N, remaining=M, reset=S``
    (any case, ``,`` or ``;``) and the older ``X-Rate-Limit-Limit/-Remaining/-Reset`` trio."""

    limit: int
    remaining: int
    reset: float

    @classmethod
    def of(cls, response: requests.Response) -> Optional["RateLimitReading"]:
        headers = response.headers
        combined = headers.get("RateLimit")
        if combined:
            values = {name.lower(): float(number) for name, number in _RATELIMIT_FIELDS.findall(combined)}
        else:
            values = {}
            for name in ("limit", "remaining", "reset"):
                raw = headers.get(f"X-Rate-Limit-{name}")
                with contextlib.suppress(TypeError, ValueError):
                    values[name] = float(raw)
        if "limit" not in values or "remaining" not in values:
            return None
        return cls(int(values["limit"]), int(values["remaining"]), max(0.0, values.get("reset", 0.0)))


def throttle_wait(response: requests.Response) -> Optional[float]:
    """Seconds a 429 asks to wait, in the order Close's own client reads them: the ``RateLimit`` reset, then
    ``Retry-After``, then the legacy body's ``error.rate_reset``. None when the answer names no positive wait."""
    reading = RateLimitReading.of(response)
    if reading is not None and reading.reset > 0:
        return reading.reset
    with contextlib.suppress(TypeError, ValueError):
        retry_after = float(response.headers.get("Retry-After"))
        if retry_after > 0:
            return retry_after
    with contextlib.suppress(Exception):
        body = orjson.loads(response.content)
        reset = float(body["error"]["rate_reset"])
        if reset > 0:
            return reset
    return None


def _request_key(request: requests.PreparedRequest) -> str:
    """Close groups its limits by path and method."""
    method = (request.headers.get("X-HTTP-Method-Override") or request.method or "GET").upper()
    return f"{method} {urlsplit(request.url or '').path}"


@dataclass
class _Ticket:
    """One request on its way: the counter it was charged to and what that counter had shown before it left."""

    seq: int
    key: str
    counter: Optional["_Counter"]
    floor_at_send: Optional[int]
    sent_before: int  # how many requests the counter had sent before this one
    in_flight_at_send: int
    sent_at: float


class _Counter:
    """One of Close's rate-limit counters as the answers reveal it: a limit per window, the window's end, and what is
    left. Paths whose answers show the same counter spend it together (``paths``)."""

    def __init__(self, limit: int, window_end: float, floor: int, window_s: float):
        self.limit = limit
        self.window_end = window_end
        self.window_s = window_s  # the longest reset seen: the window's length, to guess the next window's end
        self.window_known = True  # False once the window passed and no answer has told the new one's end yet
        self.floor = floor  # the lowest `remaining` Close reported in this window
        self.freshest: Optional[_Ticket] = None  # the request whose answer showed `floor`: the last Close counted
        self.spent = 0  # requests this connector sent in the window (and those in flight when it began)
        self.remaining = floor  # what this connector may still send in the window
        self.paths: set = set()
        self.in_flight: Dict[int, _Ticket] = {}
        self.sent = 0
        self.rolled_at = -float("inf")  # when this connector last took the window for refilled
        # Made from a first answer whose window ends with another counter's of the same limit: it may be that
        # counter, seen at an earlier moment (answers come back in any order), so it sends one request at a time
        # until an answer in the same window tells (a drop its own requests do not explain merges the two).
        self.unconfirmed = False

    def uncounted(self, ticket: Optional["_Ticket"]) -> int:
        """The requests in flight Close had not counted yet when it counted ``ticket``: those sent after it (every
        one in flight when no answer of the window is known). Answers come back in any order, so taking off every
        request in flight would take off the earlier ones twice."""
        if ticket is None:
            return len(self.in_flight)
        return sum(1 for seq in self.in_flight if seq > ticket.seq)

    def reckon(self) -> None:
        """What is left, from Close's latest count less the requests sent after it still on their way, and never
        more than this connector's own sends leave. Worked out afresh at each answer: a request sent later but
        counted earlier is taken off only while it is on its way, so the figure comes back up as they land."""
        self.remaining = max(0, min(self.limit - self.spent, self.floor - self.uncounted(self.freshest)))

    def roll(self, now: float) -> None:
        """Once the window Close announced has passed, the counter is full again."""
        if now < self.window_end:
            return
        for seq in [s for s, t in self.in_flight.items() if now - t.sent_at > 300]:  # lost to a failed request
            del self.in_flight[seq]
        self.spent = len(self.in_flight)
        self.floor, self.freshest = self.limit, None
        self.reckon()
        self.window_end = now + max(self.window_s, 0.05)
        self.window_known = False
        self.rolled_at = now

    def absorb(self, other: "_Counter") -> None:
        self.paths |= other.paths
        self.in_flight.update(other.in_flight)
        for ticket in other.in_flight.values():
            ticket.counter = self
        # One counter of Close's seen twice: each side's count is its own view of the same window (a counter made
        # from a first answer counts all Close had counted, the other's requests included). The later end is kept:
        # if the two were not one after all, the earlier would let requests out before the other refills.
        self.spent = max(self.spent, other.spent)
        if other.floor < self.floor:
            self.floor, self.freshest = other.floor, other.freshest
        self.window_end = max(self.window_end, other.window_end)
        self.unconfirmed = self.unconfirmed and other.unconfirmed
        self.reckon()
        self.remaining = min(self.remaining, other.remaining)

    def ends_with(self, limit: int, end: float) -> bool:
        """Of this limit, with a known window ending at ``end`` (give or take Close's rounding of ``reset``)."""
        return self.limit == limit and self.window_known and abs(self.window_end - end) <= _WINDOW_TOLERANCE_S

    def holds(self, end: float, sent_at: float) -> bool:
        """Whether an answer whose window ends at ``end`` is of the window this counter knows. Each answer's end is
        late by Close's rounding of ``reset`` and by its way back (long on a busy machine, while its thread waits
        for the interpreter), never early: an end within the tolerance is this window's, and so is a later one
        of a request that left well before this window's end (Close counted it in this window)."""
        if self.ends_with(self.limit, end):
            return True
        return self.window_known and end > self.window_end and sent_at < self.window_end - _WINDOW_TOLERANCE_S

    def may_send(self, reserved: int, now: float) -> bool:
        """Room left beyond ``reserved``, and no request of an unconfirmed counter on its way (one that never
        answers stops holding it after the probes' patience)."""
        if self.remaining <= reserved:
            return False
        return not (self.unconfirmed and any(now - t.sent_at <= _PROBE_PATIENCE_S for t in self.in_flight.values()))


class ClosePacer:
    """Sends each request only when Close's counter for it has room, and waits out every 429.

    Close limits requests per endpoint group (path and method), per key and per organisation, and publishes no map
    of the groups; every answer says how much is left of the counter it was charged to. So the grouping is learned:

    - a path starts as unknown and sends one request at a time until its first answer, for which every counter
      keeps room meanwhile (it may spend any of them);
    - an answer joins its path to the counter it shows: same limit, a window ending at the same moment, and a
      ``remaining`` below what that counter showed before (a shared counter only goes down within a window);
    - an answer that fits no counter makes one; if another counter of the same limit ends with it, the answer may
      be that one's, counted earlier than its latest (answers come back in any order), so the path sends one
      request at a time until its next answer tells;
    - an answer that shows more left than its counter had shown before the request left proves the path is
      charged elsewhere, and it is placed again (so a grouping that changes between two requests is followed);
    - an answer lower than the counter's own requests explain shows another counter spending it: the two merge.

    Each counter then lets out only what it has left in its window and holds the rest until the window ends. What
    is left is worked out afresh at each answer (``_Counter.reckon``): Close's latest count less the requests sent
    after that one still on their way, and never more than this connector's own requests in the window leave. An
    answer to a request that left in the window before the counter's refill tells nothing of the new one, and one
    that left well before the window's end is of that window, however late its end says (``_Counter.holds``). A 429
    stops its counter until the reset Close names; the request waits that long and is sent again, for at most
    ``MAX_THROTTLED_S`` in all, and each throttle episode is logged once. ``requests_per_second``, when set, caps
    all requests of the key together (for keys shared with other integrations).
    """

    def __init__(self, ceiling_rps: Optional[float]):
        self._cond = threading.Condition()
        self._by_path: Dict[str, _Counter] = {}
        self._counters: List[_Counter] = []
        self._probes: Dict[str, float] = {}  # unknown path -> when its one request in flight left
        self._probe_held: Dict[str, float] = {}  # unknown path refused with 429 -> until when it waits
        self._seq = 0
        self._ceiling = float(ceiling_rps) if ceiling_rps else None
        self._recent_sends: List[float] = []
        # The throttle episode under way: requests waiting on a 429, since when, how many 429s, where.
        self._throttled: set = set()
        self._episode: Dict[str, Any] = {}

    # -- before a request leaves --

    def acquire(self, request: requests.PreparedRequest) -> None:
        """Blocks until the request may be sent, and charges it to its counter."""
        key = _request_key(request)
        with self._cond:
            self._forget(request)
            while True:
                now = time.monotonic()
                wait = self._ceiling_wait(now)
                if wait <= 0:
                    counter = self._by_path.get(key)
                    if counter is None:
                        probe = self._probes.get(key)
                        held = self._probe_held.get(key, 0.0) - now
                        if held > 0:
                            wait = held
                        elif probe is None or now - probe > _PROBE_PATIENCE_S:
                            self._probes[key] = now
                            self._send(request, key, None, now)
                            return
                        else:
                            wait = probe + _PROBE_PATIENCE_S - now
                    else:
                        counter.roll(now)
                        if counter.may_send(self._unplaced(now), now):
                            self._send(request, key, counter, now)
                            return
                        wait = counter.window_end - now + 0.02
                self._cond.wait(timeout=min(max(wait, 0.005), 1.0))

    def _unplaced(self, now: float) -> int:
        """The first requests of paths still on their way (one per path, until its patience runs out): each may
        spend any counter, so every counter keeps room for them until their answers show which one they spent."""
        return sum(1 for sent_at in self._probes.values() if now - sent_at <= _PROBE_PATIENCE_S)

    def _ceiling_wait(self, now: float) -> float:
        if self._ceiling is None:
            return 0.0
        span = max(1.0, 1.0 / self._ceiling)
        allowed = max(1, int(self._ceiling * span))
        recent = self._recent_sends
        while recent and now - recent[0] >= span:
            recent.pop(0)
        return 0.0 if len(recent) < allowed else recent[0] + span - now

    def _send(self, request: requests.PreparedRequest, key: str, counter: Optional[_Counter], now: float) -> None:
        self._seq += 1
        if self._ceiling is not None:
            self._recent_sends.append(now)
        if counter is None:
            ticket = _Ticket(self._seq, key, None, None, 0, 0, now)
        else:
            ticket = _Ticket(self._seq, key, counter, counter.floor, counter.sent, len(counter.in_flight), now)
            counter.remaining -= 1
            counter.sent += 1
            counter.spent += 1
            counter.in_flight[ticket.seq] = ticket
        request._close_ticket = ticket  # type: ignore[attr-defined]

    def _forget(self, request: requests.PreparedRequest) -> Optional[_Ticket]:
        """The request's ticket, no longer in flight (a request retried after an error gives its old one back)."""
        ticket = getattr(request, "_close_ticket", None)
        if ticket is None:
            return None
        request._close_ticket = None  # type: ignore[attr-defined]
        if ticket.counter is not None:
            ticket.counter.in_flight.pop(ticket.seq, None)
        elif self._probes.get(ticket.key) == ticket.sent_at:
            del self._probes[ticket.key]
        return ticket

    # -- when an answer comes back --

    def learn(self, response: requests.Response) -> None:
        """Takes in what the answer says of its counter."""
        request = response.request
        with self._cond:
            ticket = self._forget(request)
            reading = RateLimitReading.of(response)
            if ticket is not None and reading is not None:
                now = time.monotonic()
                if response.status_code == 429:
                    self._stop(ticket.key, reading, now + (throttle_wait(response) or 0.0), now)
                else:
                    self._place(ticket, reading, now)
            self._cond.notify_all()

    def _stop(self, key: str, reading: RateLimitReading, until: float, now: float) -> None:
        counter = self._by_path.get(key)
        if counter is None:
            # A path refused on its first request: most likely it spends a counter that ran out just now, one
            # that refills when this one does. Pacing it with that counter is safe (its next answers will show
            # if it is wrong); with none, the path waits for the reset and asks again.
            spent = [c for c in self._counters if c.ends_with(reading.limit, until) and c.floor <= len(c.in_flight)]
            if not spent:
                self._probe_held[key] = until
                return
            counter = spent[0]
            for other in spent[1:]:  # which one is not known: pace them as one until their answers tell
                self._merge(counter, other)
            counter.paths.add(key)
            self._by_path[key] = counter
        counter.remaining, counter.spent = 0, counter.limit  # refused: nothing more until the window ends
        if counter.window_known and abs(until - counter.window_end) <= _WINDOW_TOLERANCE_S:
            # The window already known: every answer's end is late by its rounding and its way back, so the
            # earliest is nearest (a refused first request would otherwise hold the whole counter up to a second).
            counter.window_end = min(counter.window_end, until)
        else:
            counter.window_end = max(counter.window_end, until)
        counter.window_known = True

    def _new_counter(self, key: str, reading: RateLimitReading, now: float) -> _Counter:
        counter = _Counter(reading.limit, now + reading.reset, reading.remaining, reading.reset)
        counter.spent = reading.limit - reading.remaining  # this request and whatever else Close counted
        # (An answer without a window, `reset` 0, tells of no counter it could share.)
        counter.unconfirmed = reading.reset > 0 and any(c.ends_with(reading.limit, counter.window_end) for c in self._counters)
        counter.paths.add(key)
        self._by_path[key] = counter
        self._counters.append(counter)
        return counter

    def _place(self, ticket: _Ticket, reading: RateLimitReading, now: float) -> None:
        key, limit, left = ticket.key, reading.limit, reading.remaining
        end = now + reading.reset
        counter = self._by_path.get(key)
        if counter is not None and counter is ticket.counter and counter.limit == limit:
            if ticket.sent_at < counter.rolled_at:  # counted in the window before: it tells nothing of this one
                return
            counter.window_s = max(counter.window_s, reading.reset)
            if reading.reset == 0:  # refilled as of now (or no limit at all): nothing to learn of the grouping
                counter.floor, counter.freshest, counter.window_end, counter.window_known = left, ticket, now, True
                counter.unconfirmed = False
                counter.reckon()
                return
            in_window = counter.holds(end, ticket.sent_at)
            if not in_window and (not counter.window_known or end > counter.window_end):
                # A new window: Close tells when it ends. (Counters that refill together are not taken for one:
                # many do at the start of a sync; a count spent by others shows below, as a drop.) Of this
                # connector's requests it holds at most what it counted up to this one, every one sent after it and
                # every one sent before it still on its way (it may reach Close later).
                counter.window_end, counter.window_known = end, True
                counter.floor, counter.freshest = left, ticket
                after = counter.sent - ticket.sent_before - 1
                counter.spent = min(counter.spent, limit - left + after + len(counter.in_flight) - counter.uncounted(ticket))
                counter.reckon()
                return
            if in_window and left < (ticket.floor_at_send or 0):
                explained = 1 + ticket.in_flight_at_send + (counter.sent - ticket.sent_before - 1)
                counter.unconfirmed = False
                if (ticket.floor_at_send or 0) - left > explained:
                    self._merge_with_spender(counter, ticket, limit, left, end)
                if left <= counter.floor:
                    counter.floor, counter.freshest = left, ticket
                counter.reckon()
                # Each answer's end is late by its rounding and its way back, never early: the earliest is nearest.
                counter.window_end = min(counter.window_end, end)
                return
        # The path is charged to another counter than the one it was thought to share (or was not known yet).
        if counter is not None:
            self._detach(key, counter)
        chosen = self._closest_above(limit, left, end)
        if chosen is not None:
            # Several counters the answer could continue: pace them as one until their answers tell them apart.
            for other in self._plausible(limit, left, end, exclude=chosen):
                self._merge(chosen, other)
            chosen.paths.add(key)
            self._by_path[key] = chosen
            chosen.floor, chosen.freshest = left, ticket
            chosen.spent += 1  # this request, sent before its path was known to spend the counter
            chosen.remaining = min(chosen.remaining, max(0, left - len(chosen.in_flight)))
        else:
            self._new_counter(key, reading, now)

    def _closest_above(self, limit: int, left: int, end: float) -> Optional[_Counter]:
        """The counter this answer continues: same limit, a window ending at the same moment, and a count just
        above ``left`` (no further above than the requests in flight can explain)."""
        plausible = self._plausible(limit, left, end, exclude=None)
        return min(plausible, key=lambda c: c.floor - left) if plausible else None

    def _plausible(self, limit: int, left: int, end: float, exclude: Optional[_Counter]) -> List[_Counter]:
        return [
            c for c in self._counters
            if c is not exclude and c.ends_with(limit, end) and 0 < c.floor - left <= 2 + len(c.in_flight)
        ]

    def _merge_with_spender(self, counter: _Counter, ticket: _Ticket, limit: int, left: int, end: float) -> None:
        """Another counter's paths spent this one: they are one counter. It is the one of the same limit and end
        whose count is nearest this answer's; it may already be below it (counted later), by at most the requests
        sent since this one left."""
        sent_since = self._seq - ticket.seq
        others = [c for c in self._counters if c is not counter and c.ends_with(limit, end) and c.floor - left >= -sent_since]
        if others:  # else spent by another client of the key or organisation: the floor says enough
            self._merge(counter, min(others, key=lambda c: abs(c.floor - left)))

    def _merge(self, counter: _Counter, other: _Counter) -> None:
        counter.absorb(other)
        for path in other.paths:
            self._by_path[path] = counter
        self._counters.remove(other)

    def _detach(self, key: str, counter: _Counter) -> None:
        counter.paths.discard(key)
        if self._by_path.get(key) is counter:
            del self._by_path[key]
        if not counter.paths and counter in self._counters:
            self._counters.remove(counter)

    # -- throttle episodes --

    def throttled(self, response: requests.Response) -> None:
        with self._cond:
            if not self._throttled:
                self._episode = {"since": time.monotonic(), "answers": 0, "paths": set()}
            self._throttled.add(id(response.request))
            self._episode["answers"] += 1
            self._episode["paths"].add(urlsplit(response.url or "").path)
            self._episode["said"] = _what_close_said(response)

    def throttle_over(self, request: requests.PreparedRequest, gave_up: bool) -> None:
        with self._cond:
            self._throttled.discard(id(request))
            if self._throttled or not self._episode:
                return
            episode, self._episode = self._episode, {}
        outcome = "the request that waited longest gave up" if gave_up else "the requests waited and went on"
        logger.info(
            f"Close rate-limited this API key for {time.monotonic() - episode['since']:.1f} s "
            f"({episode['answers']} answers 429 Too Many Requests from {', '.join(sorted(episode['paths']))}; "
            f"the last said {episode['said']}): {outcome}."
        )


def _what_close_said(response: requests.Response) -> str:
    reading = RateLimitReading.of(response)
    if reading is not None:
        return f"limit={reading.limit}, remaining={reading.remaining}, reset={reading.reset:g}"
    wait = throttle_wait(response)
    return f"wait {wait:g} s" if wait is not None else "no wait"


class KeyPacers:
    """One ``ClosePacer`` per key (digest of API URL and key) and ceiling, which every stream's ``CloseKeyAuth``
    of that key shares: Close counts a key's requests across all its streams, so they must spend one budget per
    endpoint group. Assumption: one process syncs one connection at a time with a key (two connections sharing a
    key in one process would also share, correctly, its budget)."""

    _pacers: Dict[tuple, ClosePacer] = {}
    _lock = threading.Lock()

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> ClosePacer:
        ceiling = config.get("requests_per_second")
        ceiling = float(ceiling) if isinstance(ceiling, (int, float)) and not isinstance(ceiling, bool) and ceiling > 0 else None
        key = (_key_fingerprint(config), ceiling)
        with cls._lock:
            pacer = cls._pacers.get(key)
            if pacer is None:
                pacer = cls._pacers[key] = ClosePacer(ceiling)
            return pacer

