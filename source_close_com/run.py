"""Entry point of the packaged connector: ``source-close-com spec|check|discover|read``.

The manifest names its custom components ``source_declarative_manifest.components.<Name>``, the module name
Airbyte's manifest runner and the Connector Builder give ``components.py``; registering the same alias here
lets the packaged connector run the very same manifest unchanged.

What the manifest language cannot express lives here, for the packaged connector (the Docker image, PyAirbyte):

- ``check`` asks Close who the key belongs to (``GET me/``) and which streams it may not read;
- a config that breaks the spec, and a config, catalog or state file that is not what it should be, get one
  sentence naming the setting, file or stream and the fix (a config error, exit code 1, no stack trace);
- the source is given only the states of the streams the catalog selects;
- a long read logs its progress once a minute (``ReadProgress``).

The manifest-only runtime and the Connector Builder fall back to the manifest's own ``check`` (reading
``users``), the CDK's generic messages, and no progress lines.
"""

from __future__ import annotations

import difflib
import gc
import json
import logging
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

import requests
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match

from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import PRINT_BUFFER
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteLogMessage,
    AirbyteMessage,
    AirbyteStateMessage,
    AirbyteStateMessageSerializer,
    AirbyteStreamStatus,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    ConnectorSpecification,
    FailureType,
    Level,
    Status,
    TraceType,
    Type,
)
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource
from airbyte_cdk.sources.source import TState
from airbyte_cdk.sources.utils.schema_helpers import split_config
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_close_com import components

sys.modules.setdefault("source_declarative_manifest.components", components)

MANIFEST_PATH = Path(__file__).with_name("manifest.yaml")
DEFAULT_API_URL = components.DEFAULT_API_URL
# Contacts are read through Advanced Filtering: check probes that endpoint, with the smallest search it takes.
SEARCH_PROBE = {"query": {"type": "object_type", "object_type": "contact"}, "_limit": 1}
# What each input file should hold, said after what is wrong with it.
CONFIG_FIX = 'write one JSON object such as {"api_key": "api_..."} (the settings are listed in the README).'
CATALOG_FIX = (
    "build a configured catalog from discover's output with "
    "`.venv/bin/python -m tools.catalog catalog.json > configured_catalog.json`."
)
STATE_FIX = (
    "pass the STATE messages of an earlier read as a JSON list (`.venv/bin/python -m tools.state output.jsonl > "
    "state.json` writes one), or leave out --state to sync from the start date."
)


def config_error(message: str, internal: Optional[str] = None) -> AirbyteTracedException:
    return AirbyteTracedException(message=message, internal_message=internal, failure_type=FailureType.config_error)


def read_json_file(path: str, kind: str, fix: str) -> Any:
    """The JSON in ``path``, or a config error naming the file, what is wrong and what it should hold."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise config_error(f"The {kind} file {path} does not exist: check the path after --{kind}.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise config_error(f"The {kind} file {path} cannot be read ({error}): {fix}") from None
    if not text.strip():
        raise config_error(f"The {kind} file {path} is empty: {fix}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        lines = [line for line in text.splitlines() if line.strip()]
        if kind == "catalog" and _is_discover_output(lines):
            raise config_error(
                f"The catalog file {path} holds the output of `discover` (Airbyte messages), not a configured catalog: "
                + CATALOG_FIX
            ) from None
        if kind == "state" and _are_json_lines(lines):
            raise config_error(f"The state file {path} holds the output of a read (one message per line), not a state: {STATE_FIX}") from None
        raise config_error(
            f"The {kind} file {path} is not JSON ({error.msg} at line {error.lineno}, column {error.colno}): {fix}"
        ) from None


def _are_json_lines(lines: List[str]) -> bool:
    try:
        return len(lines) > 1 and all(isinstance(json.loads(line), dict) for line in lines)
    except json.JSONDecodeError:
        return False


def _is_discover_output(lines: List[str]) -> bool:
    return _are_json_lines(lines) and any(json.loads(line).get("type") == "CATALOG" for line in lines)
# Custom objects, read through Advanced Filtering too, are probed on their types' list (their own list needs a lead).
PROBE_PATH = {"data/search/custom_object": "custom_object_type/"}


class SourceCloseCom(YamlDeclarativeSource):
    def __init__(
        self,
        catalog: Optional[ConfiguredAirbyteCatalog] = None,
        config: Optional[Mapping[str, Any]] = None,
        state: TState = None,
    ) -> None:
        super().__init__(path_to_yaml=str(MANIFEST_PATH), catalog=catalog, config=config, state=state)

    # The CDK's readers raise a bare ValueError (a traceback) on a file that is not what they expect.
    @staticmethod
    def read_config(config_path: str) -> Dict[str, Any]:  # type: ignore[override]
        config = read_json_file(config_path, "config", CONFIG_FIX)
        if not isinstance(config, dict):
            raise config_error(f"The config file {config_path} holds a JSON {_json_kind(config)}, not an object: {CONFIG_FIX}")
        return config

    @classmethod
    def read_catalog(cls, catalog_path: str) -> ConfiguredAirbyteCatalog:
        catalog = read_json_file(catalog_path, "catalog", CATALOG_FIX)
        entries = catalog.get("streams") if isinstance(catalog, dict) else None
        if isinstance(catalog, dict) and catalog.get("type") == "CATALOG":
            raise config_error(f"The catalog file {catalog_path} holds the output of `discover`, not a configured catalog: {CATALOG_FIX}")
        if isinstance(entries, list) and entries and all(isinstance(e, dict) and "stream" not in e for e in entries):
            raise config_error(
                f"The catalog file {catalog_path} is a discovered catalog (streams without a sync mode), not a configured "
                f"one: {CATALOG_FIX}"
            )
        if not isinstance(entries, list):
            raise config_error(f"The catalog file {catalog_path} has no list of streams: {CATALOG_FIX}")
        try:
            return ConfiguredAirbyteCatalogSerializer.load(catalog)
        except Exception as error:  # serpyco names the first field that does not fit
            reason = str(error).splitlines()[0][:200]
            raise config_error(f"The catalog file {catalog_path} is not a configured catalog ({reason}): {CATALOG_FIX}") from None

    @classmethod
    def read_state(cls, state_path: Optional[str]) -> List[AirbyteStateMessage]:
        if not state_path:  # no --state: a first sync
            return []
        state = read_json_file(state_path, "state", STATE_FIX)
        if isinstance(state, dict):
            raise config_error(
                f"The state file {state_path} holds one JSON object (Airbyte's legacy state format, or a single "
                f"message); this connector reads a list of per-stream STATE messages, such as sample_files/state.json: "
                f"`.venv/bin/python -m tools.state {state_path} > state.json` converts it."
            )
        if not isinstance(state, list):
            raise config_error(f"The state file {state_path} holds a JSON {_json_kind(state)}, not a list: {STATE_FIX}")
        messages = []
        for position, entry in enumerate(state, 1):
            stream = entry.get("stream") if isinstance(entry, dict) else None
            if not isinstance(stream, dict) or not isinstance((stream.get("stream_descriptor") or {}).get("name"), str):
                raise config_error(
                    f"Entry {position} of the state file {state_path} is not a per-stream state (type STREAM, with "
                    f"stream.stream_descriptor.name and stream.stream_state): {STATE_FIX}"
                )
            try:
                messages.append(AirbyteStateMessageSerializer.load(entry))
            except Exception as error:
                reason = str(error).splitlines()[0][:200]
                raise config_error(f"Entry {position} of the state file {state_path} is not a state message ({reason}): {STATE_FIX}") from None
        return messages

    def stream_names(self) -> List[str]:
        return [stream["name"] for stream in self.resolved_manifest.get("streams", []) if stream.get("name")]

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """``GET me/`` proves the key and the host; one ``_limit=1`` request per endpoint then finds the streams
        the key may not read, which a sync skips with a warning."""
        # What a 401 means, in the manifest's words (its `key_rejected` filter, which a sync's 401 meets).
        rejected = self.resolved_manifest["definitions"]["response_filters"]["key_rejected"]["error_message"]
        probe = CloseProbe(config)
        failure, who, person_must_act = probe.me(rejected)
        if failure and person_must_act:
            raise AirbyteTracedException(message=failure, failure_type=FailureType.config_error)
        if failure:
            return AirbyteConnectionStatus(status=Status.FAILED, message=failure)
        endpoints = self.stream_endpoints()
        forbidden = probe.forbidden_streams(endpoints)
        if forbidden and set(forbidden) == set(endpoints):
            raise config_error(
                f"Connected as {who}, but this key may not read any of the data the connector syncs (403 Forbidden on "
                "every endpoint). Ask a Close admin to give the key's user a role that can read leads, contacts and "
                "activities, or use the key of such a user."
            )
        logger.info(f"Connected to Close as {who}.")
        if not forbidden:
            return AirbyteConnectionStatus(status=Status.SUCCEEDED)
        names = ", ".join(sorted(forbidden))
        message = (
            f"Connected as {who}, but this key may not read: {names} (403 Forbidden). A sync skips those streams "
            "with a warning; ask a Close admin to give the key's user access to that data if you need them."
        )
        logger.warning(message)
        return AirbyteConnectionStatus(status=Status.SUCCEEDED, message=message)

    def stream_endpoints(self) -> Dict[str, str]:
        """Stream name -> the endpoint path to probe for it, from the manifest. A stream read per parent record is
        probed on its parent's list: its own endpoint answers only with a parent's id."""
        endpoints = {}
        for stream in self.resolved_manifest.get("streams", []):
            parameters = stream.get("$parameters", {})
            endpoint = parameters.get("parent_endpoint") or components.stream_endpoint(parameters)
            if endpoint == "data/search/" and parameters.get("object_type") != "contact":
                endpoint += parameters.get("object_type", "")
            # `me/` is read first anyway (memberships' parent): any key may read it
            if parameters.get("name") and endpoint and endpoint != "me/":
                endpoints[parameters["name"]] = PROBE_PATH.get(endpoint, endpoint)
        return endpoints


class CloseProbe:
    """A few plain requests for ``check``; the key only ever travels in the Authorization header."""

    def __init__(self, config: Mapping[str, Any], timeout: float = 30.0) -> None:
        self.base = (config.get("api_url") or DEFAULT_API_URL).rstrip("/") + "/"
        self.session = requests.Session()
        self.session.auth = (config.get("api_key") or "", "")
        self.session.headers["Accept"] = "application/json"
        self.timeout = timeout

    def get(self, path: str, params: Optional[Mapping[str, Any]] = None) -> requests.Response:
        """One GET, waiting out a throttle as Close asks (at most three times)."""
        return self._send("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any]) -> requests.Response:
        """One POST (Advanced Filtering), waiting out a throttle as ``get`` does."""
        return self._send("POST", path, json=body)

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        for _ in range(3):
            response = self.session.request(method, self.base + path, timeout=self.timeout, **kwargs)
            if response.status_code != 429:
                return response
            time.sleep(min((components.throttle_wait(response) or 1.0), 30.0))
        return response

    def me(self, rejected: str) -> Tuple[Optional[str], str, bool]:
        """(failure sentence or None, who the key belongs to, whether a person must fix the config); ``rejected``
        is the sentence for a 401."""
        url = self.base + "me/"
        try:
            response = self.get("me/")
        except requests.exceptions.RequestException as error:
            reason = type(error).__name__
            return (
                f"Could not reach Close at {self.base} ({reason}). Check the network connection and, if it is set, "
                "the 'api_url' setting.",
                "",
                False,
            )
        status = response.status_code
        if status == 401:
            return rejected, "", True
        if status == 403:
            return (
                "Close accepted the API key but refused to say whose it is (403 Forbidden). Ask a Close admin to "
                "check the permissions of the key's user, or create a key for a user who can read the organisation.",
                "",
                True,
            )
        if status == 404:
            return (
                f"Close answered 404 Not Found for {url}: check that 'api_url' points at Close's API "
                f"({DEFAULT_API_URL}), or remove it.",
                "",
                True,
            )
        if status != 200:
            return f"Close answered {status} for {url}; Close may be having trouble, try again in a few minutes.", "", False
        try:
            body = response.json()
        except ValueError:
            return f"Close sent an unreadable answer for {url}; try again in a few minutes.", "", False
        organizations = ", ".join(o.get("name") or o.get("id", "?") for o in body.get("organizations") or [])
        who = body.get("email") or body.get("id") or "this key's user"
        return None, f"{who}" + (f" ({organizations})" if organizations else ""), False

    def forbidden_streams(self, endpoints: Mapping[str, str]) -> List[str]:
        """The streams whose endpoint answers 403 to one smallest request: the very endpoint each stream reads."""
        refused: Dict[str, bool] = {}
        for path in sorted(set(endpoints.values())):
            try:
                response = self.post(path, SEARCH_PROBE) if path == "data/search/" else self.get(path, {"_limit": 1})
                refused[path] = response.status_code == 403
            except requests.exceptions.RequestException:
                refused[path] = False  # unreachable now is not a permission problem; the sync will say more
        return [name for name, path in endpoints.items() if refused.get(path)]


class CloseEntrypoint(AirbyteEntrypoint):
    # Seconds between two progress lines of a read (``ReadProgress``).
    progress_interval_s: float = 60.0

    @staticmethod
    def validate_connection(source_spec: ConnectorSpecification, config: Mapping[str, Any]) -> None:
        """Validate the config against the spec with a message that names the setting and the fix."""
        connector_config, _ = split_config(config)
        api_key_problem(connector_config.get("api_key"))
        schema = source_spec.connectionSpecification
        error = best_match(Draft7Validator(schema).iter_errors(connector_config))
        if error is not None:
            raise AirbyteTracedException(
                message=spec_error_message(error, schema),
                internal_message=f"config fails the spec at {list(error.absolute_path) or error.validator}",
                failure_type=FailureType.config_error,
            )
        components.StartDateIsReal().validate(connector_config.get("start_date"))
        components.ApiUrlIsSafe().validate(connector_config.get("api_url"))

    def read(
        self, source_spec: ConnectorSpecification, config: Mapping[str, Any], catalog: Any, state: List[Any]
    ) -> Iterator[AirbyteMessage]:
        self.set_up_secret_filter(config, source_spec.connectionSpecification)
        self.validate_connection(source_spec, config)
        check_stream_names(catalog, self.source.stream_names())
        progress = ReadProgress(catalog, self.progress_interval_s)
        for message in super().read(source_spec, config, catalog, state):
            yield message
            line = progress.after(message)
            if line:
                yield AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=Level.INFO, message=line))


def api_key_problem(api_key: Any) -> None:
    """An empty key, or one pasted with spaces around it, said as such rather than as Close's 401."""
    if isinstance(api_key, str) and not api_key.strip():
        raise config_error(
            "The 'api_key' setting is empty: paste your Close API key (it starts with \"api_\"), from Settings > "
            "Developer > API Keys in Close."
        )
    if isinstance(api_key, str) and api_key != api_key.strip():
        raise config_error(
            "The 'api_key' setting starts or ends with a space or line break: remove it, and paste the key alone (it "
            "starts with \"api_\")."
        )


def check_stream_names(catalog: ConfiguredAirbyteCatalog, known: List[str]) -> None:
    """A stream the connector does not have would be skipped silently (the CDK marks it incomplete, exit 0)."""
    unknown = [entry.stream.name for entry in catalog.streams if entry.stream.name not in known]
    if not unknown:
        return
    named = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        named.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    raise config_error(
        f"The catalog names {'a stream' if len(unknown) == 1 else 'streams'} this connector does not have: "
        f"{', '.join(named)}. Fix the name in the catalog, or build the catalog again from `discover`."
    )


def check_states(
    states: List[AirbyteStateMessage], catalog: ConfiguredAirbyteCatalog, path: str
) -> List[AirbyteStateMessage]:
    """The states of the streams this read selects, each checked: a cursor value that is no date would fail the
    stream deep in the CDK ("Something went wrong"). States of other streams are not this read's business: left
    out, so that no warning speaks of a stream the read does not touch."""
    selected = {entry.stream.name: entry for entry in catalog.streams}
    kept = []
    for message in states:
        name = message.stream.stream_descriptor.name
        entry = selected.get(name)
        if entry is None:
            continue
        value = message.stream.stream_state
        state = value.__dict__ if value is not None and not isinstance(value, Mapping) else (value or {})
        cursor = (entry.cursor_field or entry.stream.default_cursor_field or [None])[0]
        # A partitioned stream (deleted_records) keeps its position under `state`, and one per partition.
        positions = components.SavedStateCheck.cursor_mappings(state)
        for position in positions:
            moment = position.get(cursor) if cursor else None
            if moment is not None and components._parse_time(moment) is None:  # the formats the cursor reads
                raise config_error(
                    f"The state file {path} gives stream '{name}' {cursor}={moment!r}, which is not a date and time: "
                    f"write one such as 2025-06-01T00:00:00.000000+00:00, or remove the stream's entry to sync it "
                    "from the start date."
                )
        if cursor and entry.sync_mode.value == "incremental" and state and not any(
            cursor in position for position in positions) and not any(key.startswith("__ab_") for key in state):
            raise config_error(
                f"The state file {path} gives stream '{name}' a state without its cursor '{cursor}' (it holds "
                f"{', '.join(sorted(state))}): write {{\"{cursor}\": \"<date and time>\"}}, or remove the stream's "
                "entry to sync it from the start date."
            )
        kept.append(message)
    return kept


class ReadProgress:
    """A steady sign of life during a long read: every ``interval_s``, one line per stream still being read, with
    its records so far and how far its saved state has come (the windows before that point are done)."""

    def __init__(self, catalog: ConfiguredAirbyteCatalog, interval_s: float, clock: Callable[[], float] = time.monotonic):
        self.interval_s = interval_s
        self.clock = clock
        self.started = clock()
        self.next_report = self.started + interval_s
        self.records: Dict[str, int] = {entry.stream.name: 0 for entry in catalog.streams}
        self.reached: Dict[str, str] = {}
        self.running: Dict[str, bool] = {}

    def after(self, message: AirbyteMessage) -> Optional[str]:
        """Take one message into account; at most once per interval, the progress line to log."""
        if message.type == Type.RECORD:
            self.records[message.record.stream] = self.records.get(message.record.stream, 0) + 1
        elif message.type == Type.STATE and message.state.stream is not None:
            state = message.state.stream.stream_state
            values = state.__dict__ if state is not None and not isinstance(state, Mapping) else (state or {})
            shown = [f"{key}={value}" for key, value in values.items() if not key.startswith("__ab_")]
            if shown:
                self.reached[message.state.stream.stream_descriptor.name] = ", ".join(shown)
        elif message.type == Type.TRACE and message.trace.type == TraceType.STREAM_STATUS:
            status = message.trace.stream_status
            self.running[status.stream_descriptor.name] = status.status in (
                AirbyteStreamStatus.STARTED,
                AirbyteStreamStatus.RUNNING,
            )
        now = self.clock()
        if now < self.next_report:
            return None
        self.next_report = now + self.interval_s
        streams = [name for name, running in self.running.items() if running]
        if not streams:
            return None
        minutes = (now - self.started) / 60
        parts = []
        for name in sorted(streams):
            where = f", state at {self.reached[name]}" if name in self.reached else ""
            parts.append(f"{name} {self.records.get(name, 0):,} records{where}")
        return f"Still reading after {minutes:.0f} min: " + "; ".join(parts) + "."


def _json_kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def spec_error_message(error: ValidationError, schema: Mapping[str, Any]) -> str:
    """One sentence naming the setting, what it must be, and (unless secret) what it is."""
    properties = schema.get("properties", {})
    if error.validator == "required":
        field = str(error.message).split("'")[1] if "'" in str(error.message) else "?"
        return f"The '{field}' setting is required: {properties.get(field, {}).get('description', '').strip()}".strip()
    field = str(error.absolute_path[0]) if error.absolute_path else "?"
    rules = properties.get(field, {})
    title = rules.get("title", field)
    shown = "" if rules.get("airbyte_secret") else f" (it is {error.instance!r})"
    if rules.get("pattern") or rules.get("format") in ("date", "date-time"):
        expected = f"a date written {rules.get('pattern_descriptor', 'as the example')}, such as {(rules.get('examples') or ['?'])[0]}"
        if rules.get("pattern") and re.fullmatch(rules["pattern"], ""):
            expected += ", or empty"
    elif "minimum" in rules or "maximum" in rules:
        low = rules.get("minimum", rules.get("exclusiveMinimum"))
        kind = {"integer": "a whole number", "number": "a number"}.get(rules.get("type"), "a value")
        expected = f"{kind} from {low} to {rules.get('maximum')}"
        if "exclusiveMinimum" in rules:
            expected = f"{kind} above {low} and at most {rules.get('maximum')}"
    else:
        expected = {"integer": "a whole number", "number": "a number", "string": "text"}.get(rules.get("type"), "valid")
    return f"The '{field}' setting ({title}) must be {expected}{shown}. Fix it in the connector settings."


def _source(args: List[str]) -> SourceCloseCom:
    catalog_path = AirbyteEntrypoint.extract_catalog(args)
    config_path = AirbyteEntrypoint.extract_config(args)
    state_path = AirbyteEntrypoint.extract_state(args)
    config = SourceCloseCom.read_config(config_path) if config_path else None
    catalog = SourceCloseCom.read_catalog(catalog_path) if catalog_path else None
    state = SourceCloseCom.read_state(state_path) if state_path else None
    if state is not None and catalog is not None:
        state = check_states(state, catalog, state_path)
    return SourceCloseCom(catalog=catalog, config=config, state=state)


# How long a thread may hold the GIL before Python hands it to another (5 ms by default). A read's threads mostly
# wait on Close; handing the GIL every 5 ms from the one parsing a page to threads that only wait again cost a
# fifth of the connector's CPU in a paced full sync (bench_pacing), for no gain in wall time. Set by the
# `source-close-com` process only (`main`): it is the whole interpreter's setting.
THREAD_SWITCH_INTERVAL_S = 0.02

# Python's cyclic garbage collector runs its youngest generation every 700 allocations, and every tenth of those
# runs the next; a sync allocates millions of objects (each page's JSON), so the whole heap (the CDK's and the
# manifest's objects, alive for the whole run) was walked 25 times: 6-8 CPU-s of a 25-30 CPU-s paced full sync
# (bench_pacing, `path` at 240). What exists once the connector is loaded is frozen out of collection, and the
# youngest generation waits for 50,000 allocations (about 1.3 CPU-s in all). Set by `main` only, as above.
GC_YOUNGEST_THRESHOLD = 50_000


def main() -> None:
    """The `source-close-com` command: the connector in a process of its own."""
    sys.setswitchinterval(THREAD_SWITCH_INTERVAL_S)
    gc.freeze()
    gc.set_threshold(GC_YOUNGEST_THRESHOLD, *gc.get_threshold()[1:])
    run()


def run(args: Optional[List[str]] = None) -> None:
    args = list(sys.argv[1:] if args is None else args)
    try:
        entrypoint = CloseEntrypoint(_source(args))
        parsed = entrypoint.parse_args(args)
        with PRINT_BUFFER:  # as the CDK's own `launch`
            for message in entrypoint.run(parsed):
                # One write per message: concurrent streams must not interleave a message and its newline.
                print(f"{message}\n", end="")
    except AirbyteTracedException as error:
        if error.failure_type != FailureType.config_error:
            raise
        # Something the person running the connector must fix: the one sentence, without a stack trace.
        message = error.as_sanitized_airbyte_message()
        message.trace.error.stack_trace = None
        print(f"{AirbyteEntrypoint.airbyte_message_to_string(message)}\n", end="", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
