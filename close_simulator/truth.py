"""Ground truth: what a complete sync of each stream yields from the organisation as it is now.

``STREAM_SPECS`` names, per stream, where its records live, which of them it selects and its cursor field (None:
full refresh); ``truth(org, stream, start_date)`` serves them exactly as the list endpoints do.
"""

from __future__ import annotations

from typing import Any

import orjson

from .generator import parse_instant
from . import workspace

# stream -> (source, selector, cursor field or None for full refresh)
STREAM_SPECS: dict[str, tuple[str, str | None, str | None]] = {
    "leads": ("leads", None, "date_updated"),
    "opportunities": ("opportunities", None, "date_updated"),
    "events": ("events", None, "date_updated"),
    "created_activities": ("activity", "created", "date_created"),
    "note_activities": ("activity", "note", "date_created"),
    "email_thread_activities": ("activity", "emailthread", "date_created"),
    "email_activities": ("activity", "email", "date_created"),
    "sms_activities": ("activity", "sms", "date_created"),
    "call_activities": ("activity", "call", "date_created"),
    "meeting_activities": ("activity", "meeting", "date_created"),
    "lead_status_change_activities": ("activity", "status_change/lead", "date_created"),
    "opportunity_status_change_activities": ("activity", "status_change/opportunity", "date_created"),
    "task_completed_activities": ("activity", "task_completed", "date_created"),
    "lead_tasks": ("tasks", "lead", "date_updated"),
    "incoming_email_tasks": ("tasks", "incoming_email", "date_updated"),
    "email_followup_tasks": ("tasks", "email_followup", "date_updated"),
    "missed_call_tasks": ("tasks", "missed_call", "date_updated"),
    "answered_detached_call_tasks": ("tasks", "answered_detached_call", "date_updated"),
    "voicemail_tasks": ("tasks", "voicemail", "date_updated"),
    "opportunity_due_tasks": ("tasks", "opportunity_due", "date_updated"),
    "incoming_sms_tasks": ("tasks", "incoming_sms", "date_updated"),
    "contacts": ("contacts", None, None),
    "users": ("list", "users", None),
    "roles": ("list", "roles", None),
    "lead_statuses": ("list", "lead_statuses", None),
    "opportunity_statuses": ("list", "opportunity_statuses", None),
    "pipelines": ("list", "pipelines", None),
    "lead_custom_fields": ("custom_fields", "lead", None),
    "contact_custom_fields": ("custom_fields", "contact", None),
    "opportunity_custom_fields": ("custom_fields", "opportunity", None),
    "activity_custom_fields": ("custom_fields", "activity", None),
    "custom_activities": ("list", "custom_activity_types", None),
    "email_templates": ("list", "email_templates", None),
    "email_sequences": ("list", "sequences", None),
    "dialer": ("list", "dialer_sessions", None),
    "smart_views": ("list", "saved_searches", None),
    "send_as": ("list", "send_as", None),
    "integration_links": ("list", "integration_links", None),
    "email_bulk_actions": ("bulk", "email", None),
    "sequence_subscription_bulk_actions": ("bulk", "sequence_subscription", None),
    "delete_bulk_actions": ("bulk", "delete", None),
    "edit_bulk_actions": ("bulk", "edit", None),
    "google_connected_accounts": ("connected", "google", None),
    "custom_email_connected_accounts": ("connected", "custom_email", None),
    "zoom_connected_accounts": ("connected", "zoom", None),
    "custom_activity_instances": ("activity", "custom", "date_created"),
    "deleted_records": ("deleted", None, "date_deleted"),
    "whatsapp_message_activities": ("activity", "whatsapp_message", "date_created"),
    "form_submission_activities": ("activity", "form_submission", "date_created"),
    "lead_merge_activities": ("activity", "lead_merge", "date_created"),
    **{stream: ("workspace", stream, "date_updated" if stream == "custom_objects" else None)
       for stream in workspace.STREAMS},
}
STREAMS: tuple[str, ...] = tuple(STREAM_SPECS)
# The objects whose deletions the deleted_records stream reports (custom fields and other settings are not).
DELETION_OBJECT_FAMILIES = ("lead", "contact", "opportunity", "task", "activity", "custom_object")


def _dumps_copy(obj: Any) -> Any:
    """A deep, JSON-exact copy (what a client would receive)."""
    return orjson.loads(orjson.dumps(obj))


def truth(org, stream: str, start_date: str | None = None) -> list[dict]:
    """What a complete sync of ``stream`` yields now, exactly as the list endpoints serve it.

    Incremental streams keep records whose cursor is >= ``start_date`` (date or ISO datetime) and come
    in ascending cursor order (ties by id); full-refresh streams come in their endpoint's order."""
    if stream not in STREAM_SPECS:
        raise ValueError(f"unknown stream {stream!r}")
    source, sel, cursor = STREAM_SPECS[stream]
    lo = None
    if start_date is not None and cursor is not None:
        lo = parse_instant(start_date)
        if lo is None:
            raise ValueError(f"bad start_date {start_date!r}")
    if source == "leads":
        recs = org.leads.window("date_updated", lo).page(0, 1 << 62, False)
    elif source == "opportunities":
        recs = org.opportunities.window("date_updated", lo).page(0, 1 << 62, False)
    elif source == "tasks":
        recs = org.tasks.window("date_updated", lo, group=sel).page(0, 1 << 62, False)
    elif source == "activity":
        recs = org.activity_stores[sel].window(lo, None).page(0, 1 << 62, False)
    elif source == "contacts":
        recs = org.contacts.window("date_created").page(0, 1 << 62, False)
    elif source == "events":
        start = org.event_window_start()
        recs = org.events.window("date_updated", max(start, lo or start)).page(0, 1 << 62, False)
    elif source == "deleted":
        recs = [r for r in deleted_rows(org) if lo is None or parse_instant(r["date_deleted"]) >= lo]
    elif source == "custom_fields":
        recs = org.custom_field_list(sel)
    elif source == "bulk":
        recs = org.bulk_actions[sel]
    elif source == "connected":
        recs = [a for a in org.connected_accounts if a["_type"] == sel]
    elif source == "workspace":
        recs = org.workspace.truth(sel, lo)
    else:
        recs = getattr(org, sel)
    return _dumps_copy(recs)

def deleted_rows(org) -> list[dict]:
    """One row per ``deleted`` event of a lead, contact, opportunity, task or activity in the retained event
    log, oldest first."""
    start = org.event_window_start()
    rows = []
    for ev in org.events.window("date_updated", start, group=("action", "deleted")).page(0, 1 << 62, False):
        if ev["object_type"].split(".")[0] not in DELETION_OBJECT_FAMILIES:
            continue
        rows.append({"id": ev["id"], "object_type": ev["object_type"], "object_id": ev["object_id"],
                     "lead_id": ev["lead_id"], "date_deleted": ev["date_created"], "user_id": ev["user_id"],
                     "previous_data": ev["previous_data"]})
    rows.sort(key=lambda r: (parse_instant(r["date_deleted"]), r["id"]))
    return rows
