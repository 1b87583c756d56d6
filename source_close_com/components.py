"""What the manifest cannot say in YAML.

Each class here is referenced from ``manifest.yaml`` as ``source_declarative_manifest.components.<Name>``:
that is the module name under which Airbyte's manifest runner and the Connector Builder load this file,
and ``run.py`` registers the same alias for the packaged connector.
"""

from __future__ import annotations

import ipaddress
from dataclasses import InitVar, dataclass
from typing import Any, Mapping, MutableMapping, Optional
from urllib.parse import urlsplit

import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.interpolation import InterpolatedString
from airbyte_cdk.sources.declarative.requesters.paginators.strategies.pagination_strategy import (
    PaginationStrategy,
)
from airbyte_cdk.sources.declarative.transformations import RecordTransformation
from airbyte_cdk.sources.declarative.types import Config, Record, StreamSlice, StreamState
from airbyte_cdk.sources.declarative.validators.validation_strategy import ValidationStrategy
from airbyte_cdk.utils.traced_exception import AirbyteTracedException


@dataclass
class HasMoreOffsetPagination(PaginationStrategy):
    """Offset paging that ends when Close says ``has_more: false``, not on a short page.

    Close computes ``has_more`` by fetching one row past the page, so it is exact; a short page can still
    be followed by more rows, and a full page can be the last one (which would cost an empty request).
    """

    parameters: InitVar[Mapping[str, Any]]
    config: Config
    page_size: Optional[Any] = None

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        size = InterpolatedString.create(str(self.page_size), parameters=parameters).eval(self.config)
        self._page_size = int(size) if self.page_size is not None else None

    @property
    def initial_token(self) -> Optional[Any]:
        return None

    def next_page_token(
        self,
        response: requests.Response,
        last_page_size: int,
        last_record: Optional[Record],
        last_page_token_value: Optional[Any] = None,
        page_size_override: Optional[int] = None,
        stream_slice: Optional[StreamSlice] = None,
    ) -> Optional[Any]:
        body = response.json()
        if not isinstance(body, dict) or not body.get("has_more"):
            return None
        # Count the rows Close returned, not the ones a record filter kept: the offset is the server's.
        served = len(body.get("data") or [])
        if served == 0:
            return None
        return (last_page_token_value or 0) + served

    def get_page_size(self) -> Optional[int]:
        return self._page_size


@dataclass
class DeletedRecordRow(RecordTransformation):
    """Turns an ``event/?action=deleted`` entry into one row a warehouse can soft-delete by."""

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
