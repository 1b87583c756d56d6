"""Records shaped like the ones real Close accounts send, a handful per stream.

Written for this project from what Close's API reference and public recordings of its API show about real
records: which keys exist, their JSON types and how values are spelled (naive and whole-second timestamps,
RFC 2822 email dates, dates that are date-times when a task has a time, objects inside arrays, ids of each
kind). The values themselves are made up. ``test_real_shapes.py`` checks each against the stream's discovered
schema and serves them through the simulator so the connector's read path sees them.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List

ORG = "orga_4xCqLBTKdRzYoRmXnEwFpHbJs2tVgUaN7iOk3lWc5yQ"
USER = "user_8mPqRsTuVwXyZaBcDeFgHiJkLmNoPqRsTuVwXyZaBcD"
LEAD = "lead_2bNcMdOePfQgRhSiTjUkVlWmXnYoZpAqBrCsDtEuFvG"
CONTACT = "cont_9aZbYcXdWeVfUgThSiRjQkPlOmNnMoLpKqJrIsHtGuF"
OPPORTUNITY = "oppo_5kLjMhNgObPfQeRdScTbUaVzWyXxYwZvAuBtCsDrEqF"
THREAD = "acti_7qWeRtYuIoPaSdFgHjKlZxCvBnMqWeRtYuIoPaSdFgH"
PIPELINE = "pipe_3sDfGhJkLqWeRtYuIoPaZx"
STATUS = "stat_6hJkLmNbVcXzAsDfGhJkLqWeRtYuIoPaSdFgHjKlZxC"
ACCOUNT = "emailacct_1aSdFgHjKlQwErTyUiOpZxCvBnMaSdFgHjKlQwErTyUi"


def _actor() -> Dict[str, Any]:
    return {"created_by": USER, "updated_by": USER, "created_by_name": "Dana Reyes", "updated_by_name": "Dana Reyes",
            "organization_id": ORG}


def _activity(kind: str, n: int, **fields: Any) -> Dict[str, Any]:
    return {"id": f"acti_{kind[:4].lower()}{n}QwErTyUiOpAsDfGhJkLzXcVbNmQwErTyUiOpAsDf"[:48], "_type": kind,
            "lead_id": LEAD, "contact_id": CONTACT, "user_id": USER, "user_name": "Dana Reyes", "users": [USER],
            "date_created": "2022-11-12T18:00:00+00:00", "date_updated": "2022-11-14T09:30:11.482000+00:00",
            "activity_at": "2022-11-12T18:00:00+00:00", **_actor(), **fields}


def _task(kind: str, n: int, date: str, **fields: Any) -> Dict[str, Any]:
    prefix = "task_" if kind == "lead" else "noti_"
    return {"id": f"{prefix}{kind[:4]}{n}ZxCvBnMaSdFgHjKlQwErTyUiOpZxCvBnMaSdFgHjKl"[:48], "_type": kind,
            "lead_id": LEAD, "lead_name": "Bluth Company", "contact_id": CONTACT, "contact_name": "Lindsay Bluth",
            "assigned_to": USER, "assigned_to_name": "Dana Reyes", "date": date, "due_date": date,
            "is_complete": False, "is_dateless": None, "view": "inbox", "object_type": None, "object_id": None,
            "deduplication_key": None, "date_created": "2022-11-08T12:35:29.464000+00:00",
            "date_updated": "2022-11-08T12:35:29+00:00", **_actor(), **fields}


def _envelope(date: str | None) -> Dict[str, Any]:
    return {"from": [{"name": "Lindsay Bluth", "email": "lindsay@bluth.example"}],
            "sender": [{"name": "Lindsay Bluth", "email": "lindsay@bluth.example"}],
            "to": [{"name": "", "email": "dana@close.example"}], "cc": [], "bcc": [],
            "reply_to": [{"name": "Lindsay", "email": "lindsay@bluth.example"}], "subject": "Re: Banana stand",
            "date": date, "message_id": "<CAF3x9@mail.bluth.example>", "in_reply_to": "<abc123@close.example>",
            "is_autoreply": False}


def _email(n: int, date: str | None, status: str = "inbox") -> Dict[str, Any]:
    return _activity(
        "Email", n, direction="incoming", status=status, subject="Re: Banana stand",
        sender="Lindsay Bluth <lindsay@bluth.example>", to=["dana@close.example"], cc=[], bcc=[],
        body_text="There's always money in the banana stand.", body_html="<div>There's always money.</div>",
        body_preview="There's always money in the banana stand.",
        body_text_quoted=[{"text": "There's always money in the banana stand.", "expand": True}],
        body_html_quoted=[{"html": "<div>There's always money.</div>", "expand": True}],
        thread_id=THREAD, message_ids=["<CAF3x9@mail.bluth.example>"], references=["<abc123@close.example>"],
        in_reply_to_id=None, envelope=_envelope(date),
        attachments=[{"url": "https://app.close.com/go/email/attach/", "filename": "stand.pdf", "size": 48213,
                      "content_type": "application/pdf", "thumbnail_url": None}],
        opens=[], opens_summary=None, has_reply=False, date_sent="2021-09-17T21:29:12+00:00", date_scheduled=None,
        email_account_id=ACCOUNT, send_as_id=None, template_id=None, template_name=None, sequence_id=None,
        sequence_name=None, sequence_subscription_id=None, bulk_email_action_id=None, followup_sequence_id=None,
        followup_sequence_delay=None, need_smtp_credentials=False, send_attempts=[],
    )


def _latest_email(n: int) -> Dict[str, Any]:
    keys = ("bcc", "cc")
    return {"id": f"acti_late{n}PoIuYtReWqLkJhGfDsAmNbVcXzPoIuYtReWqLkJhG"[:48],
            "date_created": "2021-09-17T21:29:12+00:00", "date_updated": "2021-09-17T21:29:13.004000+00:00",
            "date_sent": "2021-09-17T21:29:12+00:00" if n else None, "user_id": USER, "direction": "incoming",
            "status": "inbox" if n else "draft", "sender": "Lindsay Bluth <lindsay@bluth.example>" if n else None,
            "to": ["dana@close.example"], **{k: [] for k in keys}, "subject": "Re: Banana stand",
            "body_preview": "There's always money", "has_attachments": bool(n), "opens_summary": None,
            "send_as_id": None, "envelope": _envelope("Sat, 18 Sep 2021 08:29:12 +1100" if n else "Wed, 18 Aug 2021 10:35:50 -0000")}


def _bulk(prefix: str, n: int, **fields: Any) -> Dict[str, Any]:
    return {"id": f"{prefix}{n}AsDfGhJkLqWeRtYuIoPaZxCvBnMaSdFgHjKlQwErTyUi"[:len(prefix) + 43],
            "query": ["*", 'lead_status:"Potential"'][n % 2], "s_query": {"negate": False, "type": "match_all"},
            "sort": [], "results_limit": None, "status": "done", "n_objects": 12, "n_objects_processed": 12,
            "n_leads": 12, "n_leads_processed": 12, "send_done_email": True, "created_by": USER, "updated_by": USER,
            "organization_id": ORG, "date_created": "2022-11-10T08:00:00+00:00",
            "date_updated": "2022-11-10T08:01:17.551000+00:00", **fields}


def _connected(kind: str, n: int, **fields: Any) -> Dict[str, Any]:
    server = {"host": "imap.bluth.example", "port": 993, "username": "dana@close.example", "use_ssl": True,
              "date_updated": "2022-11-08T12:35:29.464000+00:00"}
    return {"_type": kind, "id": f"emailacct_{kind[:4]}{n}QwErTyUiOpAsDfGhJkLzXcVbNmQwErTyUiOpAsDf"[:53],
            "email": "dana@close.example", "user_id": USER, "organization_id": ORG,
            "date_created": "2022-11-08T12:35:29.464000+00:00",
            "default_identity": {"name": "Dana Reyes", "email": "dana@close.example"},
            "identities": [] if kind == "zoom" else [{"name": "Dana Reyes", "email": "dana@close.example"}],
            "available_features": [] if kind == "zoom" else ["email_sending", "email_syncing"],
            "enabled_features": [], "send_status": "ok", "receive_status": "error", "email_receive_status": None,
            "calendar_receive_status": None, "latest_send_error": None, "latest_receive_error": None,
            "receive_attempts_count": 3, "is_imap_archive_sync_enabled": False,
            "lead_suggestions_updated_at": None if n else "2023-01-02T03:04:05+00:00",
            "smtp": None if kind == "zoom" else dict(server, host="smtp.bluth.example", port=465),
            "imap": None if kind == "zoom" else server, **fields}


def _custom_field(n: int, kind: str, **fields: Any) -> Dict[str, Any]:
    return {"id": f"cf_{kind[:4]}{n}ZaQxSwCdEvFrBgTnHyMjUkIlOpZaQxSwCdEvFrBgTnHyMj"[:46], "name": f"Field {n}",
            "description": None, "type": kind, "choices": ["Gatekeeper", "Point of Contact"] if kind == "choices" else None,
            "accepts_multiple_values": kind == "choices", "is_shared": False, "editable_with_roles": [],
            "referenced_custom_type_id": None, "back_reference_is_visible": None, "organization_id": ORG,
            "created_by": USER, "updated_by": USER, "date_created": "2022-11-08T12:35:29.464000+00:00",
            "date_updated": "2022-11-08T12:35:29+00:00", **fields}


def real_records(now: datetime) -> Dict[str, List[Dict[str, Any]]]:
    """Stream -> records. Event-log records are dated within the last day of ``now`` (Close keeps 30 days)."""
    recent = (now - timedelta(hours=3)).astimezone(timezone.utc).replace(tzinfo=None)
    naive = recent.strftime("%Y-%m-%dT%H:%M:%S.%f")
    contact = {"id": CONTACT, "lead_id": LEAD, "name": "Lindsay Bluth", "display_name": "Lindsay Bluth", "title": "",
               "emails": [{"type": "office", "email": "lindsay@bluth.example", "is_unsubscribed": False}],
               "phones": [{"type": "office", "phone": "+14155550123", "phone_formatted": "+1 415-555-0123", "country": None}],
               "urls": [], "integration_links": [{"name": "Search", "url": "https://www.google.com/search?q=Lindsay"}],
               "date_created": "2021-07-13T11:39:05.012000+00:00", "date_updated": "2021-07-13T11:39:05+00:00",
               "created_by": USER, "updated_by": None, "organization_id": ORG}
    opportunity = {"id": OPPORTUNITY, "lead_id": LEAD, "lead_name": "Bluth Company", "contact_id": None,
                   "contact_name": None, "user_id": USER, "user_name": "Dana Reyes", "status_id": STATUS,
                   "status_label": "Won", "status_display_name": "Won", "status_type": "won", "note": "",
                   "confidence": 100, "value": 300000, "value_period": "one_time", "value_currency": "USD",
                   "value_formatted": "$3,000", "expected_value": 300000, "annualized_value": 300000,
                   "annualized_expected_value": 300000, "date_won": "2021-07-16", "date_lost": None,
                   "integration_links": [], "attachments": [], "pipeline_id": PIPELINE, "pipeline_name": "Sales",
                   "date_created": "2021-07-13T11:39:05.012000+00:00", "date_updated": "2021-07-16T00:00:00+00:00",
                   **_actor()}
    lead_task = _task("lead", 1, "2022-11-30T09:00:00+00:00", text="Call back")
    return {
        "leads": [{"id": LEAD, "name": "Bluth Company", "display_name": "Bluth Company", "description": "",
                   "url": None, "html_url": f"https://app.close.com/lead/{LEAD}/", "status_id": STATUS,
                   "status_label": "Potential", "custom": {"Industry": "Food"},
                   "addresses": [{"label": "business", "address_1": "1 Ocean Ave", "address_2": None,
                                  "city": "Newport Beach", "state": "CA", "zipcode": "92660", "country": "US"}],
                   "contacts": [contact], "opportunities": [opportunity], "tasks": [lead_task],
                   "integration_links": [], "date_created": "2021-07-13T11:39:05+00:00",
                   "date_updated": "2022-11-08T12:35:29.464000+00:00", **_actor()}],
        "contacts": [contact],
        "opportunities": [opportunity],
        "created_activities": [_activity("Created", 1, source="ui", import_id=None, contact_id=None)],
        "note_activities": [_activity("Note", 1, note="Met at the stand", note_html="<body><p>Met at the stand</p></body>",
                                      title=None, pinned=False, attachments=[])],
        "email_activities": [_email(1, "Sat, 18 Sep 2021 08:29:12 +1100"), _email(2, None, status="outbox")],
        "email_thread_activities": [_activity(
            "EmailThread", 1, n_emails=2, latest_normalized_subject="Banana stand",
            participants=[{"name": "'Lindsay Bluth' via Sales", "email": "lindsay@bluth.example"}],
            latest_emails=[_latest_email(1), _latest_email(0)])],
        "sms_activities": [_activity(
            "SMS", 1, text="See you there", direction="inbound", status="inbox", source="Close.io",
            local_phone="+14155550100", remote_phone="+14155550123", local_phone_formatted="+1 415-555-0100",
            remote_phone_formatted="+1 415-555-0123", local_country_iso="US", remote_country_iso="US",
            date_sent="2022-11-12T18:00:00+00:00", date_scheduled=None, error_message=None, cost="3",
            template_id=None, attachments=[{"media_id": "media_2sDfGhJkLqWeRtYuIoPaZx",
                                            "url": "https://app.close.com/go/sms/media/", "content_type": "image/png",
                                            "thumbnail_url": "https://app.close.com/go/sms/media/thumbnail/",
                                            "size": 81234, "filename": "stand.png"}])],
        "call_activities": [_activity(
            "Call", 1, direction="inbound", status="completed", disposition="vm-left", duration=31,
            voicemail_duration=12, voicemail_url="https://api.close.com/call/voicemail/", recording_url=None,
            recording_expires_at=None, has_recording=False, phone="+14155550123", local_phone="+14155550100",
            remote_phone="+14155550123", local_country_iso="", remote_country_iso="US", date_answered=None,
            cost="2", call_method="regular", source="Close.io", note=None, note_html=None, coach_legs=[],
            user_id=None, user_name=None, created_by=None, updated_by=None)],
        "meeting_activities": [_activity(
            "Meeting", 1, title="Stand tour", note="", location=None, status="completed", source="calendar",
            starts_at="2022-11-12T18:00:00+00:00", ends_at="2022-11-12T19:00:00+00:00", duration=3600,
            is_recurring=False, calendar_event_uids=["7ug3@google.com"], connected_account_id=ACCOUNT,
            integrations=[], attendees=[{"name": None, "email": "lindsay@bluth.example", "contact_id": CONTACT,
                                         "user_id": None, "status": "yes", "is_organizer": False}])],
        "lead_status_change_activities": [_activity(
            "LeadStatusChange", 1, old_status_id=STATUS, new_status_id=STATUS, old_status_label="Potential",
            new_status_label="Qualified", contact_id=None)],
        "opportunity_status_change_activities": [_activity(
            "OpportunityStatusChange", 1, opportunity_id=OPPORTUNITY, old_status_id=STATUS, new_status_id=STATUS,
            old_status_label="Active", new_status_label="Won", old_status_type="active", new_status_type="won",
            old_pipeline_id=PIPELINE, new_pipeline_id=PIPELINE, old_pipeline_name="Sales", new_pipeline_name="Sales",
            opportunity_value=50000, opportunity_value_formatted="$500", opportunity_value_currency="USD",
            opportunity_value_period="one_time", opportunity_confidence=75,
            opportunity_date_won="2021-07-15T00:00:00+00:00")],
        "task_completed_activities": [_activity(
            "TaskCompleted", 1, task_id=lead_task["id"], task_text="Call back", task_assigned_to=USER,
            task_assigned_to_name="Dana Reyes")],
        "custom_activity_instances": [_activity(
            "CustomActivity", 1, custom_activity_type_id="actitype_4dFgHjKlQwErTyUiOpAsZx", status="published",
            pinned=True, pinned_at="2022-11-13T10:00:00+00:00", last_published_at="2022-11-12T18:00:00.127000+00:00",
            mentions=[{"user_id": USER}], mentions_updated_at=None, source="api")],
        "lead_tasks": [lead_task, _task("lead", 2, "2022-11-12", is_dateless=False, view="future")],
        "incoming_email_tasks": [_task("incoming_email", 1, "2022-11-12T18:00:00+00:00", object_type="emailthread",
                                       object_id=THREAD, subject="Re: Banana stand", body_preview="There's always",
                                       emails=[THREAD], cleared_followups=[])],
        "email_followup_tasks": [_task("email_followup", 1, "2022-11-12", object_type="emailthread", object_id=THREAD,
                                       email_id=THREAD, subject="Banana stand", body_preview="Any news?")],
        "missed_call_tasks": [_task("missed_call", 1, "2022-11-12T18:00:00+00:00", object_type="call",
                                    phone="+14155550123", phone_formatted="+1 415-555-0123")],
        "answered_detached_call_tasks": [_task("answered_detached_call", 1, "2022-11-12", object_type="call",
                                               phone="+14155550123", recording_url=None)],
        "voicemail_tasks": [_task("voicemail", 1, "2022-11-12T18:00:00+00:00", object_type="call",
                                  voicemail_url="https://api.close.com/voicemail/", voicemail_duration=12)],
        "opportunity_due_tasks": [_task("opportunity_due", 1, "2022-11-30", object_type="opportunity",
                                        object_id=OPPORTUNITY, opportunity_value=300000,
                                        opportunity_value_formatted="$3,000", opportunity_value_period="one_time",
                                        opportunity_note="", is_primary_lead_notification=True)],
        "incoming_sms_tasks": [_task("incoming_sms", 1, "2022-11-12T18:00:00+00:00", object_type="sms",
                                     text="See you there", remote_phone="+14155550123",
                                     attachments=[{"media_id": "media_2sDfGhJkLqWeRtYuIoPaZx", "filename": "stand.png",
                                                   "url": "https://app.close.com/go/sms/media/", "size": 81234,
                                                   "content_type": "image/png", "thumbnail_url": None}])],
        "events": [{"id": "ev_2kJhGfDsAqWeRtYuIoPaZx", "action": "updated", "object_type": "phone_number",
                    "object_id": "phon_3xCvBnMaSdFgHjKlQwErTyUiOpZxCvBnMaSdFgHjKlQ", "lead_id": None,
                    "organization_id": ORG, "user_id": None, "api_key_id": None, "request_id": None,
                    "changed_fields": ["date_updated", "next_billing_on"], "meta": {},
                    "data": {"next_billing_on": "2023-05-07", "date_updated": "2022-11-08T12:35:29.464000+00:00"},
                    "previous_data": {"next_billing_on": "2023-04-07"}, "date_created": naive, "date_updated": naive}],
        "deleted_records": [{"id": "ev_5hJkLqWeRtYuIoPaZxCvBn", "action": "deleted", "object_type": "lead",
                             "object_id": "lead_0qWeRtYuIoPaSdFgHjKlZxCvBnMqWeRtYuIoPaSdFgHjK", "lead_id": LEAD,
                             "organization_id": ORG, "user_id": USER, "api_key_id": None, "request_id": None,
                             "changed_fields": [], "meta": {"request_path": "/api/v1/lead/", "request_method": "DELETE"},
                             "data": None, "previous_data": {"id": LEAD, "display_name": "Bluth Company"},
                             "date_created": naive, "date_updated": naive}],
        "users": [{"id": USER, "email": "dana@close.example", "first_name": "Dana", "last_name": "Reyes",
                   "image": "https://secure.gravatar.com/avatar/0f.png", "google_profile_image_url": None,
                   "organizations": [ORG], "last_used_timezone": "Europe/Kiev",
                   "email_verified_at": "2021-07-13T11:39:05+00:00",
                   "date_created": "2021-07-13T11:36:04.983404+00:00", "date_updated": "2021-07-13T11:36:04+00:00"}],
        "roles": [{"id": "restricteduser", "name": "Restricted User", "editable": False, "organization_id": ORG,
                   "permissions": ["calling", "export"], "date_created": "0001-01-01T00:00:00",
                   "date_updated": "0001-01-01T00:00:00"}],
        "lead_statuses": [{"id": STATUS, "label": "Potential", "organization_id": ORG}],
        "opportunity_statuses": [{"id": STATUS, "label": "Won", "type": "won", "pipeline_id": PIPELINE, "organization_id": ORG}],
        "pipelines": [{"id": PIPELINE, "name": "Sales", "organization_id": ORG, "created_by": None, "updated_by": None,
                       "statuses": [{"id": STATUS, "label": "Won", "type": "won"}],
                       "date_created": "2021-07-13T11:36:04.983404", "date_updated": "2021-07-13T11:36:04"}],
        "lead_custom_fields": [_custom_field(1, "choices"), _custom_field(2, "datetime")],
        "contact_custom_fields": [_custom_field(3, "date")],
        "opportunity_custom_fields": [_custom_field(4, "number")],
        "activity_custom_fields": [_custom_field(5, "user", custom_activity_type_id="actitype_4dFgHjKlQwErTyUiOpAsZx",
                                                 required=False)],
        "custom_activities": [{"id": "actitype_4dFgHjKlQwErTyUiOpAsZx", "name": "Site visit", "description": None,
                               "api_create_only": False, "editable_with_roles": [],
                               "fields": [{"id": "cf_x", "name": "Outcome", "description": None, "type": "text",
                                           "required": False, "accepts_multiple_values": False, "is_shared": False,
                                           "editable_with_roles": [], "referenced_custom_type_id": None,
                                           "back_reference_is_visible": None, "converting_to_type": None}],
                               "organization_id": ORG, "created_by": USER, "updated_by": USER,
                               "date_created": "2022-11-08T12:03:27.631229", "date_updated": "2022-11-08T12:03:27"}],
        "email_templates": [{"id": "tmpl_6gHjKlQwErTyUiOpAsDfZxCvBnMaSdFgHjKlQwErTyU", "name": "Intro",
                             "subject": "Hi {{ contact.first_name }}", "body": "<p>Hello {{ lead.display_name }}</p>",
                             "attachments": [], "is_shared": True, "is_archived": False, "created_by": USER,
                             "updated_by": USER, "organization_id": ORG,
                             "date_created": "2021-07-13T11:39:05+00:00", "date_updated": "2021-07-13T11:39:05.012000+00:00"}],
        "email_sequences": [{"id": "seq_7hJkLqWeRtYuIoPaZxCvBn", "name": "Follow up", "status": "active",
                             "schedule_id": "sched_8jKlQwErTyUiOpAsDfGhZx", "timezone": "Europe/Kiev",
                             "created_by_id": USER, "updated_by_id": USER, "organization_id": ORG,
                             "steps": [{"id": "seqstep_9kLqWeRtYuIoPaZxCvBnMa", "step_type": "call", "delay": 259200,
                                        "step_allowed_delay": None, "required": True, "threading": None,
                                        "email_template_id": None, "sms_template_id": None, "created_by_id": USER,
                                        "updated_by_id": USER, "date_created": "2022-11-08T12:07:06.184401",
                                        "date_updated": "2022-11-08T12:07:06.184405"}],
                             "date_created": "2022-11-08T12:07:06.184401", "date_updated": "2022-11-08T12:07:06"}],
        "dialer": [{"id": "dial_1qWeRtYuIoPaSdFgHjKlZx", "organization_id": ORG, "user_id": USER, "caller_id": "",
                    "music_preference": "tone1", "ring_mode": "more-voicemails", "source_type": "saved-search",
                    "source_value": "save_2wErTyUiOpAsDfGhJkLzXcVbNmQwErTyUiOpAsDfGhJ", "status": "inactive",
                    "target_type": "lead", "type": "power", "is_user_dependent": False,
                    "users": [{"user_id": USER, "is_active": False, "state": "idle"}],
                    "date_created": "2022-11-08T14:27:23.185019", "date_updated": "2022-11-08T14:27:23"}],
        "smart_views": [{"id": "save_2wErTyUiOpAsDfGhJkLzXcVbNmQwErTyUiOpAsDfGhJ", "name": "\U0001f34c Hot leads",
                         "type": "lead", "organization_id": ORG, "user_id": USER, "is_shared": True,
                         "is_user_dependent": False, "query": None,
                         "s_query": {"query": {"type": "and", "negate": False, "queries": [
                             {"type": "object_type", "object_type": "lead", "negate": False}]},
                                     "results_limit": None, "sort": []},
                         "date_created": "2021-07-13T11:39:05+00:00", "date_updated": "2021-07-13T11:39:05.012000+00:00"}],
        "send_as": [{"id": "sendas_3eRtYuIoPaSdFgHjKlZx", "organization_id": ORG, "allowing_user_id": USER,
                     "allowed_user_id": "user_0aSdFgHjKlQwErTyUiOpZxCvBnMaSdFgHjKlQwErTyU"}],
        "integration_links": [{"id": "ilink_4rTyUiOpAsDfGhJkLzXcVbNmQwErTyUiOpAsDfGhJkLz", "name": "Search",
                               "url": "https://www.google.com/search?q={{ lead.display_name }}", "type": "lead",
                               "created_by": USER, "updated_by": USER, "organization_id": ORG, "date_created": "2021-07-13T11:39:05+00:00",
                               "date_updated": "2021-07-13T11:39:05.012000+00:00"}],
        "email_bulk_actions": [_bulk("bulkemail_", 1, template_id="tmpl_6gHjKlQwErTyUiOpAsDfZxCvBnMaSdFgHjKlQwErTyU",
                                     contact_preference="lead", email_account_id=ACCOUNT,
                                     sender="Dana Reyes <dana@close.example>")],
        "sequence_subscription_bulk_actions": [_bulk("bulkseqsub_", 2, sequence_id="seq_7hJkLqWeRtYuIoPaZxCvBn",
                                                     action_type="subscribe", sender_email="dana@close.example",
                                                     sender_name="Dana Reyes", sender_account_id=ACCOUNT,
                                                     from_phone_number_id=None,
                                                     calls_assigned_to=["group_5tYuIoPaSdFgHjKlZxCvBn"],
                                                     contact_preference="contact")],
        "delete_bulk_actions": [_bulk("bulkdelete_", 3, bulk_object_type="lead")],
        "edit_bulk_actions": [_bulk("bulkedit_", 4, type="set_lead_status", custom_field_name=None,
                                    custom_field_value=None, lead_status_id=STATUS)],
        "google_connected_accounts": [_connected(
            "google", 1, available_features=["calendar_syncing", "email_sending", "email_syncing"],
            available_calendars=[{"id": "dana@close.example", "name": "dana@close.example", "status": "ok",
                                  "default": True, "synced": True},
                                 {"id": "c_8f2@group.calendar.google.com", "name": "Team", "status": "ok",
                                  "default": False, "synced": False}],
            synced_calendars=["dana@close.example"], sync_all_calendars=False)],
        "custom_email_connected_accounts": [_connected("custom_email", 2)],
        "zoom_connected_accounts": [_connected("zoom", 3, zoom_account_plan=None)],
        **newer_resources(naive),
    }


def _dated(**fields: Any) -> Dict[str, Any]:
    return {"organization_id": ORG, "created_by": USER, "updated_by": USER,
            "date_created": "2024-03-04T10:11:12.131415+00:00", "date_updated": "2024-03-04T10:11:12+00:00", **fields}


def newer_resources(naive: str) -> Dict[str, List[Dict[str, Any]]]:
    """Resources Close added or documented more recently (forms, custom objects, comments, phone numbers, ...)."""
    thread = "cmth_6yUiOpAsDfGhJkLzXcVbNm"
    object_type = "cotype_7uIoPaSdFgHjKlZxCvBnMa"
    sequence = "seq_7hJkLqWeRtYuIoPaZxCvBn"
    return {
        "whatsapp_message_activities": [_activity(
            "WhatsAppMessage", 1, direction="inbound", external_whatsapp_message_id="wamid.HBgLMTQxNTU1NTAxMjM",
            local_phone="+14155550100", local_phone_formatted="+1 415-555-0100", remote_phone="+14155550123",
            remote_phone_formatted="+1 415-555-0123", message_markdown="*Hi* there", message_html="<p><b>Hi</b> there</p>",
            text="Hi there", attachments=[], integration_name="WhatsApp", integration_link=None, response_to_id=None,
            source="whatsapp", sequence_id=None, sequence_name=None, sequence_subscription_id=None)],
        "form_submission_activities": [_activity(
            "FormSubmission", 1, form_id="form_8iOpAsDfGhJkLzXcVbNmQw", form_name="Request a demo",
            form_configuration_id=None, values={"ff_1": "lindsay@bluth.example", "ff_2": "11-50"},
            values_by_name={"Email": "lindsay@bluth.example", "Team size": "11-50"}, ip_address="203.0.113.7",
            origin="https://bluth.example", source_url="https://bluth.example/demo?utm_source=ad",
            source_url_normalized="https://bluth.example/demo")],
        "lead_merge_activities": [_activity(
            "LeadMerge", 1, source_lead_id="lead_0qWeRtYuIoPaSdFgHjKlZxCvBnMqWeRtYuIoPaSdFgHjK", destination_lead_id=LEAD,
            merge_status="completed", contact_id=None)],
        "forms": [_dated(id="form_8iOpAsDfGhJkLzXcVbNmQw", name="Request a demo", description=None, is_archived=False,
                         fields=[{"id": "ff_1", "name": "Email", "type": "email", "required": True, "choices": None},
                                 {"id": "ff_2", "name": "Team size", "type": "select", "required": False,
                                  "choices": ["1-10", "11-50"]}])],
        "custom_objects": [_dated(id="custobj_9oPaSdFgHjKlZxCvBnMqWe", custom_object_type_id=object_type, lead_id=LEAD,
                                  name="Banana stand lease")],
        "custom_object_types": [_dated(id=object_type, name="Lease", name_plural="Leases", description=None,
                                       api_create_only=False, editable_with_roles=[], back_reference_fields=[],
                                       fields=[{"id": "cf_lease", "name": "Rent", "type": "number", "description": None,
                                                "required": False, "accepts_multiple_values": False,
                                                "editable_with_roles": [], "is_shared": False,
                                                "referenced_custom_type_id": None, "back_reference_is_visible": None,
                                                "converting_to_type": None}])],
        "custom_object_custom_fields": [_custom_field(6, "number", custom_object_type_id=object_type, required=False)],
        "shared_custom_fields": [_custom_field(7, "text", is_shared=True, associations=[
            {"object_type": "lead", "required": False, "editable_with_roles": [], "custom_activity_type_id": None,
             "custom_object_type_id": None}])],
        "comment_threads": [{"id": thread, "object_id": THREAD, "object_type": "activity.email", "lead_id": LEAD,
                             "comment_count": 1, "organization_id": ORG,
                             "date_created": "2024-03-04T10:11:12.131415+00:00", "date_updated": "2024-03-04T10:11:12+00:00"}],
        "comments": [_dated(id="comm_1aSdFgHjKlZxCvBnMqWeRt", thread_id=thread, object_id=THREAD,
                            object_type="activity.email", lead_id=LEAD, body="<p>Nice one @Dana</p>", is_deleted=False,
                            permissions=["edit", "delete"])],
        "phone_numbers": [{"id": "phon_3xCvBnMaSdFgHjKlQwErTyUiOpZxCvBnMaSdFgHjKlQ", "number": "+14155550100",
                           "number_formatted": "+1 415-555-0100", "label": "Sales", "type": "internal", "user_id": USER,
                           "is_group_number": False, "participants": [], "carrier": "twilio", "country": "US",
                           "address_id": None, "bundle_id": None, "forward_to": None, "forward_to_enabled": False,
                           "forward_to_formatted": None, "is_verified": True, "last_billed_price": "1.15",
                           "mms_enabled": True, "sms_enabled": True, "next_billing_on": "2023-05-07",
                           "press_1_to_accept": False, "supports_mms_to_countries": ["US"],
                           "supports_sms_to_countries": ["US", "CA"], "voicemail_greeting_url": None,
                           "organization_id": ORG, "date_created": "2022-11-08T12:35:29.464000+00:00",
                           "date_updated": "2022-11-08T12:35:29+00:00"}],
        "blocked_phone_numbers": [_dated(id="bphon_2sDfGhJkLqWeRtYuIoPaZx", phone="+19005550199", reason="spam")],
        "sms_templates": [_dated(id="smstmpl_3dFgHjKlQwErTyUiOpAsZx", name="Reminder", text="See you at {{ lead.name }}",
                                 is_shared=True, status="active", attachments=[])],
        "outcomes": [_dated(id="outcome_4fGhJkLqWeRtYuIoPaZxCv", name="Demo booked", description=None, type="custom",
                            applies_to=["calls", "meetings"])],
        "unsubscribed_emails": [{"id": "gob@bluth.example", "email": "gob@bluth.example"}],
        "scheduling_links": [_dated(id="schedlink_5gHjKlQwErTyUiOpAsZxCv", name="Intro call",
                                    url="https://calendly.com/dana/intro", description=None, source="calendly",
                                    source_id="evt_1", source_type="calendly", duration_in_minutes=30, user_id=USER)],
        "shared_scheduling_links": [_dated(id="sharedschedlink_6hJkLqWeRtYuIoPaZx", name="Team intro", description=None,
                                           associations=[{"user_id": USER, "user_scheduling_link_id": "schedlink_5gHjKlQwErTyUiOpAsZxCv",
                                                          "url": "https://calendly.com/dana/intro"}])],
        "groups": [{"id": "group_5tYuIoPaSdFgHjKlZxCvBn", "name": "Closers", "organization_id": ORG,
                    "members": [{"user_id": USER}]}],
        "webhooks": [_dated(id="whsub_7jKlQwErTyUiOpAsDfGhZx", url="https://hooks.bluth.example/close", status="active",
                            verify_ssl=True, events=[{"object_type": "lead", "action": "created", "extra_filter": None}])],
        "sequence_subscriptions": [{"id": "sub_8kLqWeRtYuIoPaZxCvBnMa", "sequence_id": sequence, "contact_id": CONTACT,
                                    "lead_id": LEAD, "contact_email": "lindsay@bluth.example", "status": "active",
                                    "pause_reason": None, "sender_account_id": ACCOUNT, "sender_name": "Dana Reyes",
                                    "sender_email": "dana@close.example", "from_phone_number_id": None,
                                    "calls_assigned_to": [USER], "organization_id": ORG, "created_by_id": USER,
                                    "updated_by_id": USER, "date_created": naive, "date_updated": naive}],
        "playbooks": [{"id": "playbook_9lQwErTyUiOpAsDfGhJkZx", "name": "Discovery", "description": None, "position": 0,
                       "summary_guidance": "Ask about budget", "outcome_ids": ["outcome_4fGhJkLqWeRtYuIoPaZxCv"],
                       "custom_field_ids": [], "archived_at": None, "archived_by_id": None, "organization_id": ORG,
                       "created_by_id": USER, "updated_by_id": USER, "created_at": "2024-03-04T10:11:12.131415+00:00",
                       "updated_at": "2024-03-04T10:11:12+00:00"}],
        "memberships": [{"id": "memb_0aSdFgHjKlQwErTyUiOpZxCvBnMaSdFgHjKlQwErTyU", "user_id": USER,
                         "user_email": "dana@close.example", "user_first_name": "Dana", "user_last_name": "Reyes",
                         "user_full_name": "Dana Reyes", "user_image": None, "role_id": "admin", "organization_id": ORG,
                         "date_created": "2021-07-13T11:39:05.012000+00:00", "date_updated": "2021-07-13T11:39:05"}],
    }
