"""Every path the simulator serves, as tables: method + path pattern -> handler.

``API_ROUTES`` are Close's endpoints under ``/api/v1/``; each handler names an attribute of the ``CloseAPI``
(``responses.py``) that answers it, possibly through one of its parts (``events.list``, ``workspace.comments``).
``CONTROL_ROUTES`` are the simulator's own endpoints under ``/_simulator/``, answered by ``SimulatorServer``.

A pattern is a path whose ``{name}`` segments match one segment and ``{name:regex}`` what the regex matches (the
syntax aiohttp uses too); matched names and a route's fixed ``args`` become the handler's keyword arguments. A ``GET``
route also answers ``HEAD``. ``Router.resolve`` finds the first route whose pattern matches; a path some route
matches under another method is answered 405, a path none matches 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Callable

from .models import ACTIVITY_KINDS, BULK_KINDS, CUSTOM_FIELD_OBJECTS


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: str
    args: dict[str, Any] = field(default_factory=dict)
    body: bool = False  # the handler takes the raw request body as ``body``


def _one_of(names) -> str:
    return "|".join(re.escape(n) for n in names)


_KINDS = _one_of(ACTIVITY_KINDS)
_FIELD_OBJECTS = _one_of(CUSTOM_FIELD_OBJECTS)


def _lists(handler: str, table: dict[str, dict]) -> list[Route]:
    """One ``GET <path>/`` route per entry of ``table`` (path -> fixed arguments), all to ``handler``."""
    return [Route("GET", f"{path}/", handler, args) for path, args in table.items()]


API_ROUTES: tuple[Route, ...] = (
    # workspace resources (workspace.py)
    *_lists("workspace.offset_list", {
        "form": {"head": "form", "records": "forms"},
        "comment_thread": {"head": "comment_thread", "records": "comment_threads"},
        "phone_number": {"head": "phone_number", "records": "phone_numbers"},
        "blocked_phone_number": {"head": "blocked_phone_number", "records": "blocked_phone_numbers"},
        "sms_template": {"head": "sms_template", "records": "sms_templates"},
        "outcome": {"head": "outcome", "records": "outcomes"},
        "playbook": {"head": "playbook", "records": "playbooks"},
    }),
    *_lists("workspace.unpaged", {
        "custom_object_type": {"records": "custom_object_types"},
        "scheduling_link": {"records": "scheduling_links"},
        "shared_scheduling_link": {"records": "shared_scheduling_links"},
        "webhook": {"records": "webhooks"},
    }),
    Route("GET", "unsubscribe/email/", "workspace.unsubscribed_emails"),
    Route("GET", "custom_field/custom_object_type/", "workspace.custom_object_fields"),
    Route("GET", "custom_fields/custom_object_type/", "workspace.custom_object_fields"),
    Route("GET", "group/", "workspace.groups"),
    Route("GET", "group/{id}/", "workspace.group"),
    Route("GET", "comment/", "workspace.comments"),
    Route("GET", "sequence_subscription/", "workspace.sequence_subscriptions"),
    Route("GET", "custom_object/", "workspace.custom_objects"),
    # classic resources
    Route("GET", "me/", "me"),
    Route("GET", "lead/", "leads"),
    Route("GET", "lead/{id}/", "lead"),
    Route("GET", "contact/", "contacts"),
    Route("GET", "contact/{id}/", "contact"),
    Route("GET", "opportunity/", "opportunities"),
    Route("GET", "opportunity/{id}/", "opportunity"),
    Route("GET", "task/", "tasks"),
    Route("GET", "task/{id}/", "task"),
    Route("GET", "activity/", "all_activities"),
    Route("GET", f"activity/{{kind:{_KINDS}}}/", "activities"),
    Route("GET", f"activity/{{kind:{_KINDS}}}/{{id}}/", "activity_of_kind"),
    Route("GET", "activity/{id:acti_[^/]+}/", "activity"),
    Route("GET", "event/", "events.list"),
    Route("GET", "event/{id}/", "events.one"),
    Route("GET", "user/", "users"),
    Route("GET", "user/{id}/", "user"),
    Route("GET", "organization/{id}/", "organization"),
    Route("GET", f"custom_field/{{obj:{_FIELD_OBJECTS}}}/", "custom_fields"),
    Route("GET", f"custom_fields/{{obj:{_FIELD_OBJECTS}}}/", "custom_fields"),
    Route("GET", f"custom_field/{{obj:{_FIELD_OBJECTS}}}/{{id}}/", "custom_field"),
    Route("GET", f"custom_fields/{{obj:{_FIELD_OBJECTS}}}/{{id}}/", "custom_field"),
    Route("GET", "custom_field_schema/{obj:lead|contact|opportunity}/", "custom_field_schema"),
    Route("GET", "status/lead/", "unpaged_setting", {"records": "lead_statuses"}),
    Route("GET", "status/opportunity/", "unpaged_setting", {"records": "opportunity_statuses"}),
    *_lists("unpaged_setting", {
        "pipeline": {"records": "pipelines"},
        "custom_activity": {"records": "custom_activity_types"},
        "integration_link": {"records": "integration_links"},
        "send_as": {"records": "send_as"},
    }),
    Route("GET", "role/", "cursor_setting", {"records": "roles"}),
    Route("GET", "saved_search/", "cursor_setting", {"records": "saved_searches"}),
    *_lists("settings_list", {
        "email_template": {"head": "email_template"},
        "sequence": {"head": "sequence"},
        "dialer": {"head": "dialer"},
    }),
    Route("GET", "connected_account/", "connected_accounts"),
    Route("GET", f"bulk_action/{{kind:{_one_of(BULK_KINDS)}}}/", "bulk_actions"),
    Route("POST", "data/search/", "search.run", body=True),
)

CONTROL_ROUTES: tuple[Route, ...] = (
    Route("GET", "stats", "control_stats"),
    Route("POST", "stats/reset", "control_stats_reset"),
    Route("POST", "mutate", "control_mutate"),
    Route("POST", "reset", "control_reset"),
    Route("GET", "truth/{stream}", "control_truth"),
    Route("POST", "configure", "control_configure"),
    Route("GET", "config", "control_config"),
)


def _compile(pattern: str) -> re.Pattern:
    out, pos = [], 0
    for m in re.finditer(r"\{(\w+)(?::([^{}]+))?\}", pattern):
        out.append(re.escape(pattern[pos:m.start()]))
        out.append(f"(?P<{m.group(1)}>{m.group(2) or '[^/]+'})")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out))


class Router:
    """``routes`` bound to the handlers of ``target``; ``resolve`` maps (method, path) to a call."""

    def __init__(self, routes: tuple[Route, ...], target: Any):
        self._by_head: dict[str, list[tuple[re.Pattern, Route, Callable]]] = {}
        for route in routes:
            head = route.pattern.split("/", 1)[0]
            entry = (_compile(route.pattern), route, attrgetter(route.handler)(target))
            self._by_head.setdefault(head, []).append(entry)

    def resolve(self, method: str, path: str) -> tuple[int, Route | None, Callable | None, dict[str, Any]]:
        """``(200, route, handler, kwargs)``, or ``(405 or 404, None, None, {})``; ``path`` has no leading slash."""
        method = "GET" if method == "HEAD" else method
        matched = False
        for regex, route, handler in self._by_head.get(path.split("/", 1)[0], ()):
            m = regex.fullmatch(path)
            if m is None:
                continue
            if route.method != method:
                matched = True
                continue
            return 200, route, handler, {**route.args, **m.groupdict()}
        return (405 if matched else 404), None, None, {}
