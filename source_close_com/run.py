"""Entry point of the packaged connector: ``source-close-com spec|check|discover|read``.

The manifest names its custom components ``source_declarative_manifest.components.<Name>``, the module name
Airbyte's manifest runner and the Connector Builder give ``components.py``; registering the same alias here
lets the packaged connector run the very same manifest unchanged.

Two things the manifest language cannot express live here, for the packaged connector (the Docker image):
``check`` asks Close who the key belongs to (``GET me/``) and which streams it may not read, and a config
that breaks the spec gets a message naming the setting. The manifest-only runtime and the Connector Builder
fall back to the manifest's own ``check`` (reading ``users``) and the CDK's generic spec messages.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import requests
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match

from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import PRINT_BUFFER
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    ConfiguredAirbyteCatalog,
    ConnectorSpecification,
    FailureType,
    Status,
)
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource
from airbyte_cdk.sources.source import TState
from airbyte_cdk.sources.utils.schema_helpers import split_config
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_close_com import components

sys.modules.setdefault("source_declarative_manifest.components", components)

MANIFEST_PATH = Path(__file__).with_name("manifest.yaml")
DEFAULT_API_URL = "https://api.close.com/api/v1/"
KEY_REJECTED = components.KEY_REJECTED
# Streams read through Advanced Filtering are probed on the plain list endpoint of the same object (custom
# objects, whose list needs a lead, on their types).
PROBE_PATH = {"data/search/": "contact/", "data/search/custom_object": "custom_object_type/"}


class SourceCloseCom(YamlDeclarativeSource):
    def __init__(
        self,
        catalog: Optional[ConfiguredAirbyteCatalog] = None,
        config: Optional[Mapping[str, Any]] = None,
        state: TState = None,
    ) -> None:
        super().__init__(path_to_yaml=str(MANIFEST_PATH), catalog=catalog, config=config, state=state)

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """``GET me/`` proves the key and the host; one ``_limit=1`` request per endpoint then finds the streams
        the key may not read, which a sync skips with a warning."""
        probe = CloseProbe(config)
        failure, who, person_must_act = probe.me()
        if failure and person_must_act:
            raise AirbyteTracedException(message=failure, failure_type=FailureType.config_error)
        if failure:
            return AirbyteConnectionStatus(status=Status.FAILED, message=failure)
        forbidden = probe.forbidden_streams(self.stream_endpoints())
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
            endpoint = parameters.get("parent_endpoint") or parameters.get("endpoint") or (
                "task/" if parameters.get("task_type") else None)
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
        for _ in range(3):
            response = self.session.get(self.base + path, params=params, timeout=self.timeout)
            if response.status_code != 429:
                return response
            time.sleep(min(_throttle_wait(response), 30.0))
        return response

    def me(self) -> Tuple[Optional[str], str, bool]:
        """(failure sentence or None, who the key belongs to, whether a person must fix the config)."""
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
            return KEY_REJECTED, "", True
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
        refused: Dict[str, bool] = {}
        for path in sorted(set(endpoints.values())):
            try:
                refused[path] = self.get(path, {"_limit": 1}).status_code == 403
            except requests.exceptions.RequestException:
                refused[path] = False  # unreachable now is not a permission problem; the sync will say more
        return [name for name, path in endpoints.items() if refused.get(path)]


def _throttle_wait(response: requests.Response) -> float:
    header = response.headers.get("RateLimit", "")
    for part in header.replace(";", ",").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "reset":
            try:
                return float(value)
            except ValueError:
                break
    try:
        return float(response.headers.get("Retry-After", 1))
    except ValueError:
        return 1.0


class CloseEntrypoint(AirbyteEntrypoint):
    @staticmethod
    def validate_connection(source_spec: ConnectorSpecification, config: Mapping[str, Any]) -> None:
        """Validate the config against the spec with a message that names the setting and the fix."""
        connector_config, _ = split_config(config)
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
    catalog = YamlDeclarativeSource.read_catalog(catalog_path) if catalog_path else None
    config = YamlDeclarativeSource.read_config(config_path) if config_path else None
    state = YamlDeclarativeSource.read_state(state_path) if state_path else None
    return SourceCloseCom(catalog=catalog, config=config, state=state)


def run(args: Optional[List[str]] = None) -> None:
    args = list(sys.argv[1:] if args is None else args)
    entrypoint = CloseEntrypoint(_source(args))
    parsed = entrypoint.parse_args(args)
    with PRINT_BUFFER:  # as the CDK's own `launch`
        for message in entrypoint.run(parsed):
            # One write per message: concurrent streams must not interleave a message and its newline.
            print(f"{message}\n", end="")


if __name__ == "__main__":
    run()
