"""Configured catalogs the tests read with: every incremental stream, or a few streams of a catalog."""

from __future__ import annotations

from typing import Dict, Iterable, Tuple

from airbyte_cdk.models import ConfiguredAirbyteCatalog

from unit_tests.harness import catalog_for

EXPECTED_INCREMENTAL = frozenset({
    "leads", "contacts", "opportunities", "events", "deleted_records",
    "created_activities", "note_activities", "email_thread_activities", "email_activities", "sms_activities",
    "call_activities", "meeting_activities", "lead_status_change_activities",
    "opportunity_status_change_activities", "task_completed_activities", "custom_activity_instances",
    "lead_tasks", "incoming_email_tasks", "email_followup_tasks", "missed_call_tasks",
    "answered_detached_call_tasks", "voicemail_tasks", "opportunity_due_tasks", "incoming_sms_tasks",
    "whatsapp_message_activities", "form_submission_activities", "lead_merge_activities", "custom_objects",
})


def incremental_catalog(config) -> Tuple[ConfiguredAirbyteCatalog, Dict[str, str]]:
    """Every stream the catalog offers in incremental mode, configured so, and each one's cursor field."""
    chosen = [s for s in catalog_for(config, None, "incremental").streams if s.sync_mode.value == "incremental"]
    cursors = {s.stream.name: s.cursor_field[0] for s in chosen}
    assert set(cursors) == EXPECTED_INCREMENTAL, f"incremental streams changed: {sorted(cursors)}"
    return ConfiguredAirbyteCatalog(streams=chosen), cursors


def only(catalog: ConfiguredAirbyteCatalog, streams: Iterable[str]) -> ConfiguredAirbyteCatalog:
    """The entries of ``catalog`` for exactly these streams (each must be in it)."""
    wanted = set(streams)
    chosen = ConfiguredAirbyteCatalog(streams=[s for s in catalog.streams if s.stream.name in wanted])
    assert {s.stream.name for s in chosen.streams} == wanted, f"not in the catalog: {sorted(wanted - {s.stream.name for s in chosen.streams})}"
    return chosen
