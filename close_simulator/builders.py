"""Record builders: one lead, contact, opportunity, task or activity as Close would serve it.

``RecordBuilder`` makes the records of the generated organisation (``generation.py``), of mutations
(``mutations.py``) and of the activities the stores derive on demand (``models.ActivityStore.derive``, the hot path
of every activity page), plus custom field definitions and values. It reads the organisation's state and keeps only
caches of its own.
"""

from __future__ import annotations

import random
from bisect import bisect_right

from .generator import (
    DAY, EMAIL_BODIES, EMAIL_SUBJECTS, FIRST_NAMES, INDUSTRIES, LAST_NAMES, MEETING_TITLES,
    NOTES, PLACES, SECOND, SMS_TEXTS, STREETS, TASK_TEXTS, TITLES, b62, company_name, fmt_date, fmt_rfc2822,
    fmt_tz_auto, fmt_tz_ms, later, mix2, money_formatted, pick_between, rand_chars, rand_id, slug,
)
from . import workspace
from .models import ACTIVITY_TYPE_NAMES

_OUT_STATUSES = ("sent", "sent", "sent", "sent", "draft", "scheduled", "error")
# Zones of incoming mail's senders, in minutes east of UTC (an email's Date header keeps the sender's zone).
_SENDER_OFFSETS = (0, 660, -420, 60, 330, -300)


class RecordBuilder:
    """Builds records for one organisation (``org``) from a caller's random generator."""

    def __init__(self, org):
        self.org = org
        self._slug_cache: dict[str, str] = {}
        self._body_cache: dict[tuple, tuple] = {}
        self._who_cache: dict[str, str] = {}
        pool_rng = org._rng("id-pool")
        self._id_pool = [rand_chars(pool_rng, 43) for _ in range(4096)]

    def user_ref(self, rng: random.Random) -> dict:
        org = self.org
        return rng.choice(org.users)

    def custom_field_def(self, rng: random.Random, name: str, typ: str, multi: bool, choices, desc,
                         created_us: int, **extra) -> dict:
        org = self.org
        creator = self.user_ref(rng)["id"]
        d = {"id": rand_id(rng, "cf_"), "name": name, "description": desc, "type": typ,
             "choices": list(choices) if choices else None, "accepts_multiple_values": multi,
             "is_shared": False, "editable_with_roles": [], "referenced_custom_type_id": None,
             "back_reference_is_visible": None, "organization_id": org.organization_id,
             "created_by": creator, "updated_by": creator, "date_created": fmt_tz_ms(created_us),
             "date_updated": fmt_tz_ms(later(rng, created_us, org.anchor_us, 0.3))}
        d.update(extra)
        return d

    def _custom_value(self, rng: random.Random, d: dict, contact_ids: list[str], lo: int, hi: int):
        org = self.org
        typ = d["type"]

        def one():
            if typ == "number":
                return round(rng.uniform(0, 100), 2) if "%" in d["name"] else rng.randrange(1, 50_000)
            if typ == "date":
                return fmt_date(pick_between(rng, lo, hi))
            if typ == "datetime":
                return fmt_tz_ms(pick_between(rng, lo, hi))
            if typ == "choices":
                return rng.choice(d["choices"])
            if typ == "user":
                return rng.choice(org.users)["id"]
            if typ == "contact":
                return rng.choice(contact_ids) if contact_ids else None
            if typ == "hidden":
                return f"LEG-{rng.randrange(10_000, 99_999)}"
            if typ == "textarea":
                return rng.choice(NOTES).format(first=rng.choice(FIRST_NAMES), q=rng.randint(1, 4), n=rng.randint(2, 40))
            return rng.choice(INDUSTRIES + ["north", "south", "alpha", "beta", "gamma"]) + f" {rng.randrange(100)}"

        if d["accepts_multiple_values"]:
            vals = []
            for _ in range(rng.randint(1, 3)):
                v = one()
                if v is not None and v not in vals:
                    vals.append(v)
            return vals
        return one()

    def custom_values(self, rng: random.Random, defs: list[dict], contact_ids: list[str], lo: int, hi: int,
                      fill: float = 0.7) -> dict:
        out = {}
        for d in defs:
            if rng.random() > fill:
                continue
            out["custom." + d["id"]] = None if rng.random() < 0.05 else self._custom_value(rng, d, contact_ids, lo, hi)
        return out

    def _slug(self, text: str) -> str:
        out = self._slug_cache.get(text)
        if out is None:
            out = self._slug_cache[text] = slug(text)
        return out

    def quick_id(self, rng, prefix: str, n: int = 43) -> str:
        """A random-looking id for nested references inside derived records (drawn from a pool)."""
        return prefix + self._id_pool[rng.randrange(4096)][:n]

    def _who(self, user: dict) -> str:
        out = self._who_cache.get(user["id"])
        if out is None:
            out = self._who_cache[user["id"]] = f'{user["first_name"]} {user["last_name"]}'
        return out

    def build_contact(self, rng: random.Random, lead_id: str, company: str, created: int, updated: int,
                      contact_ids_hint: list[str]) -> dict:
        org = self.org
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        name = f"{first} {last}" if rng.random() > 0.05 else None
        user = self.user_ref(rng)
        cid = rand_id(rng, "cont_")
        phone_n = f"+1{rng.randrange(2012000000, 9899999999)}"
        rec = {
            "id": cid, "lead_id": lead_id, "organization_id": org.organization_id, "name": name,
            "display_name": name or "", "title": rng.choice(TITLES),
            "emails": [{"type": rng.choice(["office", "home", "direct"]),
                        "email": f"{first.lower()}.{last.lower()}@{slug(company)}.com",
                        "is_unsubscribed": rng.random() < 0.05}] if rng.random() < 0.92 else [],
            "phones": [{"type": rng.choice(["office", "mobile", "direct"]), "phone": phone_n,
                        "phone_formatted": f"+1 {phone_n[2:5]}-{phone_n[5:8]}-{phone_n[8:]}", "country": "US",
                        "outbound_sms_blocked": False, "tz_ids": ["America/New_York"]}] if rng.random() < 0.7 else [],
            "urls": [], "integration_links": [], "created_by": user["id"], "updated_by": user["id"],
            "date_created": fmt_tz_ms(created), "date_updated": fmt_tz_ms(updated),
            "timezone": None, "timezone_source": None, "recent_calls": [], "subscriptions": [],
            "lead_suggestions_operation_id": None,
        }
        rec.update(self.custom_values(rng, org.fields_for("contact"), contact_ids_hint + [cid], created, org.anchor_us))
        return rec

    def build_lead(self, rng: random.Random, created: int, updated: int) -> dict:
        org = self.org
        company = company_name(rng)
        status = rng.choice(org.lead_statuses)
        user = self.user_ref(rng)
        place = rng.choice(PLACES)
        lid = rand_id(rng, "lead_")
        return {
            "id": lid, "name": company, "display_name": company,
            "description": None if rng.random() < 0.5 else rng.choice(NOTES).format(first="the team", q=rng.randint(1, 4), n=rng.randint(2, 40)),
            "url": None if rng.random() < 0.3 else f"https://www.{slug(company)}.com",
            "html_url": f"https://app.close.com/lead/{lid}/", "status_id": status["id"], "status_label": status["label"],
            "organization_id": org.organization_id, "created_by": user["id"], "created_by_name": self._who(user),
            "updated_by": user["id"], "updated_by_name": self._who(user),
            "date_created": fmt_tz_ms(created), "date_updated": fmt_tz_ms(updated),
            "addresses": [] if rng.random() < 0.3 else [{
                "label": rng.choice(["business", "mailing", "other"]),
                "address_1": f"{rng.randint(1, 999)} {rng.choice(STREETS)}", "address_2": None,
                "city": place[0], "state": place[1], "zipcode": place[2], "country": place[3]}],
            "contacts": [], "opportunities": [], "tasks": [],
            "integration_links": [{"name": il["name"], "url": il["url"].replace("{{ lead.display_name }}", company.replace(" ", "+"))}
                                  for il in org.integration_links if il["type"] == "lead"],
            "custom": {},
        }

    def finish_lead_custom(self, rng: random.Random, lead: dict, contact_ids: list[str], created: int) -> None:
        org = self.org
        values = self.custom_values(rng, org.fields_for("lead"), contact_ids, created, org.anchor_us)
        names = {d["id"]: d["name"] for d in org.fields_for("lead")}
        lead["custom"] = {names[k[7:]]: v for k, v in values.items() if v is not None}
        lead.update(values)

    def build_opportunity(self, rng: random.Random, lead: dict, contact: dict | None, created: int,
                          updated: int) -> dict:
        org = self.org
        pipeline = rng.choice(org.pipelines)
        st = rng.choice([s for s in org.opportunity_statuses if s["pipeline_id"] == pipeline["id"]])
        user = self.user_ref(rng)
        value = rng.choice([None, 50_000, 120_000, 250_000, 300_000, 990_000, 1_500_000, rng.randrange(10, 2000) * 1000])
        period = rng.choice(["one_time", "one_time", "monthly", "annual"])
        conf = {"won": 100, "lost": 0}.get(st["type"], rng.choice([10, 25, 50, 75, 90]))
        annual = None if value is None else (value * 12 if period == "monthly" else value)
        rec = {
            "id": rand_id(rng, "oppo_"), "lead_id": lead["id"], "lead_name": lead["display_name"],
            "contact_id": contact["id"] if contact else None, "contact_name": contact["name"] if contact else None,
            "user_id": user["id"], "user_name": self._who(user), "organization_id": org.organization_id,
            "status_id": st["id"], "status_label": st["label"], "status_display_name": st["label"],
            "status_type": st["type"], "pipeline_id": pipeline["id"], "pipeline_name": pipeline["name"],
            "value": value, "value_currency": "USD", "value_formatted": money_formatted(value) if value is not None else "",
            "value_period": period, "expected_value": None if value is None else value * conf // 100,
            "annualized_value": annual, "annualized_expected_value": None if annual is None else annual * conf // 100,
            "confidence": conf, "note": "" if rng.random() < 0.5 else rng.choice(NOTES).format(first="them", q=2, n=7),
            "date_won": fmt_date(pick_between(rng, created, max(created + 1000, updated))) if st["type"] == "won" else None,
            "date_lost": fmt_tz_ms(updated) if st["type"] == "lost" else None,
            "date_created": fmt_tz_ms(created), "date_updated": fmt_tz_ms(updated),
            "created_by": user["id"], "created_by_name": self._who(user), "updated_by": user["id"],
            "updated_by_name": self._who(user), "integration_links": [], "attachments": [],
            "is_stalled": rng.random() < 0.1, "stall_status": None, "suggested_action": None, "comment_summary": None,
            "lead_primary_email": None, "lead_primary_phone": None,
        }
        rec.update(self.custom_values(rng, org.fields_for("opportunity"), org.children_contacts(lead["id"]),
                                      created, org.anchor_us))
        return rec

    def build_task(self, rng: random.Random, typ: str, lead: dict, contact: dict | None, created: int,
                   updated: int, opportunity: dict | None = None) -> dict:
        org = self.org
        user = self.user_ref(rng)
        is_complete = rng.random() < (0.5 if typ == "lead" else 0.3)
        due = created + rng.randrange(0, 30) * DAY
        first = (contact or {}).get("name") or "them"
        date_val = fmt_date(due) if rng.random() < 0.6 else fmt_tz_ms(due // 1000 * 1000)
        rec = {
            "id": rand_id(rng, "task_" if typ == "lead" else "noti_"), "_type": typ, "lead_id": lead["id"],
            "lead_name": lead["display_name"], "contact_id": contact["id"] if contact else None,
            "contact_name": contact["name"] if contact else None, "assigned_to": user["id"],
            "assigned_to_name": self._who(user), "text": rng.choice(TASK_TEXTS).format(first=first.split(" ")[0]),
            "date": date_val, "due_date": date_val, "is_complete": is_complete,
            "is_dateless": False if typ == "lead" else None,
            "view": "archive" if is_complete else rng.choice(["inbox", "future"]),
            "object_type": None, "object_id": None, "organization_id": org.organization_id,
            "created_by": user["id"], "created_by_name": self._who(user), "updated_by": user["id"],
            "updated_by_name": self._who(user), "date_created": fmt_tz_ms(created), "date_updated": fmt_tz_ms(updated),
        }
        phone = f"+1{rng.randrange(2012000000, 9899999999)}"
        phone_fmt = f"+1 {phone[2:5]}-{phone[5:8]}-{phone[8:]}"
        if typ in ("incoming_email", "email_followup"):
            rec.update({"object_type": "emailthread", "object_id": rand_id(rng, "acti_"),
                        "subject": rng.choice(EMAIL_SUBJECTS).format(company=lead["display_name"], first="", n=rng.randrange(1000, 9999)),
                        "body_preview": "Thanks for the update..."})
            if typ == "incoming_email":
                rec.update({"emails": [rand_id(rng, "acti_")], "cleared_followups": []})
            else:
                rec.update({"email_id": rand_id(rng, "acti_"), "total_emails_count_in_thread": rng.randint(1, 6)})
        elif typ in ("missed_call", "answered_detached_call", "voicemail"):
            rec.update({"object_type": "call", "object_id": rand_id(rng, "acti_"), "phone": phone,
                        "phone_formatted": phone_fmt, "phone_number_description": None, "local_phone": "+14155550100"})
            if typ == "answered_detached_call":
                rec["recording_url"] = f"https://api.close.com/call-recording/{rand_chars(rng, 20)}/"
            if typ == "voicemail":
                rec.update({"voicemail_url": f"https://api.close.com/voicemail/{rand_chars(rng, 20)}/",
                            "voicemail_duration": rng.randint(5, 120)})
        elif typ == "opportunity_due":
            opp = opportunity or {}
            rec.update({"object_type": "opportunity", "object_id": opp.get("id"),
                        "opportunity_value": opp.get("value"), "opportunity_value_formatted": opp.get("value_formatted"),
                        "opportunity_value_period": opp.get("value_period"), "opportunity_note": opp.get("note"),
                        "is_primary_lead_notification": True})
        elif typ == "incoming_sms":
            rec.update({"object_type": "sms", "object_id": rand_id(rng, "acti_"), "text": rng.choice(SMS_TEXTS).format(first="hi"),
                        "remote_phone": phone, "remote_phone_formatted": phone_fmt, "remote_phone_description": None,
                        "local_phone": "+14155550100", "attachments": self._sms_media(rng, rec["object_id"])})
        elif is_complete:
            rec.update({"object_type": "taskcompleted", "object_id": rand_id(rng, "acti_")})
        return rec

    def build_activity(self, kind: str, rng: random.Random, aid: str, created: int, updated: int,
                       lead_id: str, user: dict, parent_index: int | None = None, as_generated: bool = False) -> dict:
        """One activity of ``kind``; used for derived base records and for created ones alike.

        A base record (``as_generated``) reads its lead's contacts, opportunity and task as they were generated,
        never as later changes left them: Close does not rewrite an old activity when its contact, opportunity
        or task changes, and a record that changed without a new ``date_updated`` would be invisible to any sync.
        A new activity refers to what exists now."""
        org = self.org
        info = org.lead_info.get(lead_id)
        contacts = info[1] if info else ()
        contact = contacts[rng.randrange(len(contacts))] if contacts and rng.random() < 0.85 else None
        if contact is not None and not as_generated and contact[0] not in org.contacts.records:
            contact = None
        fmt = fmt_tz_auto if kind in ("email", "emailthread") else fmt_tz_ms
        c_str = fmt(created)
        who = self._who(user)
        rec = {"id": aid, "_type": ACTIVITY_TYPE_NAMES[kind], "lead_id": lead_id,
               "contact_id": contact[0] if contact else None, "user_id": user["id"], "user_name": who,
               "users": [user["id"]], "organization_id": org.organization_id, "created_by": user["id"],
               "created_by_name": who, "updated_by": user["id"], "updated_by_name": who,
               "date_created": c_str, "date_updated": c_str if updated == created else fmt(updated), "activity_at": c_str}
        first = contact[1].split(" ")[0] if contact and contact[1] else "there"
        company = info[0] if info else "your team"
        domain = self._slug(company)
        if kind == "created":
            rec.update({"source": rng.choice(["ui", "api", "import", "import", "clipper", "email"]), "import_id": None,
                        "contact_id": None})
            if created in org.burst_instants:
                rec["source"], rec["import_id"] = "import", f"import_{b62(created // 1000, 12)}"
        elif kind == "note":
            text = rng.choice(NOTES).format(first=first, q=rng.randint(1, 4), n=rng.randint(2, 40))
            rec.update({"note": text, "note_html": f"<body><p>{text}</p></body>", "title": None,
                        "pinned": rng.random() < 0.05, "attachments": []})
        elif kind in ("email", "emailthread"):
            incoming = created % SECOND == 0
            subject = rng.choice(EMAIL_SUBJECTS).format(company=company, first=first, n=rng.randrange(1000, 9999))
            email = contact[2] if contact and contact[2] else f"info@{domain}.com"
            ours = user["email"]
            sender, to = (email, ours) if incoming else (ours, email)
            if kind == "emailthread":
                n_emails = rng.randint(1, 8)
                rec.update({"n_emails": n_emails,
                            "participants": [{"name": who, "email": ours}, {"name": contact[1] if contact else "", "email": email}],
                            "latest_normalized_subject": subject.replace("Re: ", ""),
                            "latest_emails": [self._latest_email(rng, created, c_str, incoming, subject, sender, to, user)]})
            else:
                rec.update(self._email_fields(rng, created, updated, c_str, incoming, subject, sender, to, email,
                                              first, user, domain))
        elif kind in ("call", "sms"):
            inbound = rng.random() < 0.35
            remote = contact[3] if contact and contact[3] else f"+1{rng.randrange(2012000000, 9899999999)}"
            remote_fmt = f"+1 {remote[2:5]}-{remote[5:8]}-{remote[8:]}"
            common = {"direction": "inbound" if inbound else "outbound", "local_phone": "+14155550100",
                      "local_phone_formatted": "+1 415-555-0100", "remote_phone": remote,
                      "remote_phone_formatted": remote_fmt, "local_country_iso": "US", "remote_country_iso": "US",
                      "source": "Close.io", "cost": str(rng.randint(0, 30))}
            if kind == "call":
                status = rng.choice(["completed", "completed", "completed", "no-answer", "busy", "failed"])
                duration = rng.randint(15, 1800) if status == "completed" else 0
                voicemail = status == "completed" and rng.random() < 0.15
                rec.update(common)
                rec.update({"status": status, "disposition": "vm-left" if voicemail else ("answered" if duration else "no-answer"),
                            "duration": duration, "voicemail_duration": rng.randint(5, 90) if voicemail else 0,
                            "voicemail_url": f"https://api.close.com/voicemail/{rand_chars(rng, 20)}/" if voicemail else None,
                            "recording_url": f"https://api.close.com/call-recording/{rand_chars(rng, 20)}/" if duration and rng.random() < 0.4 else None,
                            "has_recording": False, "recording_expires_at": None, "phone": remote, "call_method": "regular",
                            "date_answered": c_str if duration else None, "dialer_id": None, "dialer_saved_search_id": None,
                            "note": "" if rng.random() < 0.6 else rng.choice(NOTES).format(first=first, q=1, n=3), "note_html": None,
                            "outcome_id": None, "sequence_id": None, "sequence_name": None, "sequence_subscription_id": None,
                            "is_forwarded": False, "forwarded_to": None, "is_to_group_number": False, "is_joinable": False,
                            "transferred_from": None, "transferred_to": None, "transferred_from_user_id": None,
                            "transferred_to_user_id": None, "coach_legs": [], "parent_meeting_id": None})
                rec["has_recording"] = rec["recording_url"] is not None
            else:
                rec.update(common)
                rec.update({"status": "inbox" if inbound else rng.choice(["sent", "sent", "delivered", "error"]),
                            "text": rng.choice(SMS_TEXTS).format(first=first), "date_sent": c_str,
                            "date_scheduled": None, "error_message": None, "template_id": None,
                            "attachments": self._sms_media(rng, rec["id"]),
                            "sequence_id": None, "sequence_name": None, "sequence_subscription_id": None})
        elif kind == "meeting":
            starts = created + rng.randrange(0, 14) * DAY
            duration = rng.choice([900, 1800, 3600])
            attendees = [{"name": who, "email": user["email"], "contact_id": None, "user_id": user["id"],
                          "status": "yes", "is_organizer": True}]
            if contact:
                attendees.append({"name": contact[1], "email": contact[2], "contact_id": contact[0], "user_id": None,
                                  "status": rng.choice(["yes", "maybe", "noreply"]), "is_organizer": False})
            rec.update({"title": rng.choice(MEETING_TITLES), "status": "completed" if starts < org.anchor_us else "upcoming",
                        "source": "calendar", "starts_at": fmt(starts), "ends_at": fmt(starts + duration * SECOND),
                        "duration": duration, "location": rng.choice([None, "Zoom", "Office"]), "note": None,
                        "attendees": attendees, "calendar_event_uids": [rand_chars(rng, 26).lower()],
                        "calendar_event_link": None, "connected_account_id": org.connected_accounts[0]["id"],
                        "is_recurring": False, "integrations": [], "conference_links": [], "user_note": None,
                        "user_note_html": None, "summary": None, "activity_at": fmt(starts)})
        elif kind == "status_change/lead":
            old, new = rng.sample(org.lead_statuses, 2)
            rec.update({"old_status_id": old["id"], "old_status_label": old["label"],
                        "new_status_id": new["id"], "new_status_label": new["label"], "contact_id": None})
        elif kind == "status_change/opportunity":
            store = org.activity_stores.get(kind)
            opp_id = store.parent_ids[parent_index] if store is not None and parent_index is not None else None
            live = None if as_generated else org.opportunities.records.get(opp_id)
            opp = live or org.base_opp_snapshot.get(opp_id) or {}
            pipeline = org.pipeline_by_id.get(opp.get("pipeline_id")) or org.pipelines[0]
            old, new = rng.sample(pipeline["statuses"], 2)
            rec.update({"opportunity_id": opp_id, "old_status_id": old["id"], "old_status_label": old["label"],
                        "old_status_type": old["type"], "new_status_id": new["id"], "new_status_label": new["label"],
                        "new_status_type": new["type"], "old_pipeline_id": pipeline["id"], "old_pipeline_name": pipeline["name"],
                        "new_pipeline_id": pipeline["id"], "new_pipeline_name": pipeline["name"],
                        "opportunity_value": opp.get("value"), "opportunity_value_formatted": opp.get("value_formatted"),
                        "opportunity_value_currency": "USD", "opportunity_value_period": opp.get("value_period"),
                        "opportunity_confidence": opp.get("confidence"),
                        "opportunity_date_won": (opp["date_won"] + "T00:00:00+00:00") if opp.get("date_won") else None,
                        "contact_id": opp.get("contact_id")})
        elif kind == "task_completed":
            store = org.activity_stores.get(kind)
            task_id = store.parent_ids[parent_index] if store is not None and parent_index is not None else None
            live = None if as_generated else org.tasks.records.get(task_id)
            task = live or org.base_task_snapshot.get(task_id) or {}
            rec.update({"task_id": task_id, "task_text": task.get("text"), "task_assigned_to": task.get("assigned_to"),
                        "task_assigned_to_name": task.get("assigned_to_name"), "contact_id": task.get("contact_id")})
        elif kind == "custom":
            ctype = org.custom_activity_types[rng.randrange(len(org.custom_activity_types))]
            defs = [d for d in org.custom_fields["activity"] if d.get("custom_activity_type_id") == ctype["id"]]
            published = rng.random() < 0.9
            pinned = rng.random() < 0.05
            rec.update({"custom_activity_type_id": ctype["id"], "status": "published" if published else "draft",
                        "pinned": pinned, "pinned_at": fmt_tz_ms(updated) if pinned else None,
                        "last_published_at": fmt_tz_ms(created) if published else None,
                        "mentions": [], "mentions_updated_at": None, "source": rng.choice(["ui", "api", "api"])})
            rec.update(self.custom_values(rng, defs, [c[0] for c in contacts], created, org.anchor_us, fill=0.8))
        elif kind in workspace.ACTIVITY_KINDS:
            rec.update(org.workspace.activity_fields(kind, rng, rec, created, contact, first, domain))
        return rec

    def _latest_email(self, rng, created: int, c_str: str, incoming: bool, subject: str, sender: str, to: str,
                      user: dict) -> dict:
        """The newest email of a thread as ``latest_emails`` shows it: a summary, not the whole email."""
        msg_id = f"<{rng.getrandbits(96):024x}@mail.close.com>"
        who = [{"name": "", "email": sender}]
        return {"id": self.quick_id(rng, "acti_"), "date_created": c_str, "date_updated": c_str, "date_sent": c_str,
                "user_id": user["id"], "direction": "incoming" if incoming else "outgoing", "status": "inbox" if incoming else "sent",
                "sender": sender, "to": [to], "cc": [], "bcc": [], "subject": subject,
                "body_preview": "Thanks for the update...", "has_attachments": False, "opens_summary": None, "send_as_id": None,
                "envelope": {"from": who, "sender": who, "to": [{"name": "", "email": to}], "cc": [], "bcc": [], "reply_to": [],
                             "subject": subject, "date": fmt_rfc2822(created, 0), "message_id": msg_id, "in_reply_to": None,
                             "is_autoreply": False}}

    def _sms_media(self, rng, activity_id: str) -> list:
        """Now and then a picture: Close lists an MMS's media on the message and on its incoming-SMS task."""
        if rng.random() >= 0.1:
            return []
        media = self.quick_id(rng, "media_", 22)
        url = f"https://app.close.com/go/sms/{activity_id}/media/{media}/"
        return [{"media_id": media, "url": url, "thumbnail_url": url + "thumbnail/", "content_type": "image/png",
                 "size": rng.randint(20_000, 400_000), "filename": "photo.png"}]

    def _email_bodies(self, idx: int, first: str, sender: str) -> tuple:
        """Body variants are few; rendering them once per (template, names) keeps derivation cheap."""
        key = (idx, first, sender)
        out = self._body_cache.get(key)
        if out is None:
            if len(self._body_cache) > 50_000:
                self._body_cache.clear()
            body = EMAIL_BODIES[idx].format(first=first, sender=sender)
            out = self._body_cache[key] = (body, "<div>" + body.replace("\n", "<br>") + "</div>",
                                           body[:100].replace("\n", " "))
        return out

    def _email_fields(self, rng, created: int, updated: int, c_str: str, incoming: bool, subject: str,
                      sender: str, to: str, email: str, first: str, user: dict, domain: str) -> dict:
        org = self.org
        body, body_html, preview = self._email_bodies(rng.randrange(len(EMAIL_BODIES)), first, user["first_name"])
        status = "inbox" if incoming else _OUT_STATUSES[rng.randrange(7)]
        sent = c_str if status in ("inbox", "sent") else None
        msg_id = f"<{rng.getrandbits(96):024x}@mail.{domain if incoming else 'close.com'}>"
        opens = [] if incoming or rng.random() < 0.5 else [
            {"ip_address": f"203.0.113.{rng.randint(1, 254)}", "opened_at": fmt_tz_ms(min(updated, created + 3600_000_000)),
             "opened_by": email, "user_agent": "Mozilla/5.0"}]
        tmpl = org.email_templates[rng.randrange(len(org.email_templates))] if not incoming and rng.random() < 0.3 else None
        seq = org.sequences[rng.randrange(len(org.sequences))] if not incoming and rng.random() < 0.15 else None
        thread_store = org.activity_stores.get("emailthread")
        thread_id = None
        if thread_store is not None and thread_store.n:
            k = max(1, bisect_right(thread_store.times, created))
            thread_id = thread_store.id_of(mix2(thread_store.salt2, created) % k)
        sender_l, to_l = [{"name": "", "email": sender}], [{"name": "", "email": to}]
        offset = _SENDER_OFFSETS[rng.randrange(len(_SENDER_OFFSETS))] if incoming else 0
        header_date = fmt_rfc2822(created, offset) if sent else None
        attachments = [] if rng.random() < 0.9 else [
            {"url": f"https://app.close.com/go/email/{rand_chars(rng, 20)}/", "filename": "proposal.pdf",
             "size": rng.randint(20_000, 900_000), "content_type": "application/pdf", "thumbnail_url": None}]
        return {
            "direction": "incoming" if incoming else "outgoing", "status": status, "subject": subject,
            "sender": sender, "to": [to], "cc": [], "bcc": [], "body_text": body, "body_html": body_html,
            "body_preview": preview, "body_text_quoted": [{"text": body, "expand": True}],
            "body_html_quoted": [{"html": body_html, "expand": True}],
            "thread_id": thread_id, "message_ids": [msg_id], "references": [], "in_reply_to_id": None,
            "envelope": {"from": sender_l, "sender": sender_l, "to": to_l, "cc": [], "bcc": [], "reply_to": [],
                         "subject": subject, "date": header_date, "message_id": msg_id, "in_reply_to": None,
                         "is_autoreply": False},
            "attachments": attachments, "opens": opens, "opens_summary": f"Opened {len(opens)} time(s)" if opens else None,
            "has_reply": rng.random() < 0.3, "date_sent": sent,
            "date_scheduled": fmt_tz_auto(created + DAY) if status == "scheduled" else None,
            "email_account_id": org._email_account_id, "send_as_id": None,
            "template_id": tmpl["id"] if tmpl else None, "template_name": tmpl["name"] if tmpl else None,
            "sequence_id": seq["id"] if seq else None, "sequence_name": seq["name"] if seq else None,
            "sequence_subscription_id": self.quick_id(rng, "sub_", 22) if seq else None,
            "bulk_email_action_id": None, "followup_sequence_id": None, "followup_sequence_delay": None,
            "need_smtp_credentials": False, "send_attempts": [] if incoming else [{"error_class": None, "date": sent}]}
