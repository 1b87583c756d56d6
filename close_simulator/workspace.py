"""The organisation's workspace resources: forms, custom objects, comments, phone numbers, SMS templates,
outcomes, unsubscribed emails, scheduling links, groups, webhooks, sequence subscriptions, playbooks and
memberships, plus the fields of the WhatsApp, form submission and lead merge activities.

``Workspace(org)`` generates them from the organisation's seed once its leads, contacts and activities exist;
``WorkspaceAPI`` answers their list endpoints with Close's parameters and refusals:
``comment/`` needs exactly one of ``thread_id`` / ``object_id``, ``sequence_subscription/`` one of
``sequence_id`` / ``contact_id`` / ``lead_id``, ``custom_object/`` a ``lead_id``; other custom objects are
reached through ``data/search/`` (``SEARCHABLE`` below).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from .generator import (
    DAY, FIRST_NAMES, HOUR, LAST_NAMES, MINUTE, NOTES, SECOND, SMS_TEXTS, fmt_date, fmt_naive, fmt_tz_ms, later, pick_between, rand_chars, rand_id, slug,
)
from .params import ApiError, bad, one

if TYPE_CHECKING:  # pragma: no cover
    from .models import Organization
    from .responses import CloseAPI

# Activity kinds served from here: kind -> (``_type``, event object type).
ACTIVITY_KINDS = {
    "whatsapp_message": ("WhatsAppMessage", "activity.whatsapp_message"),
    "form_submission": ("FormSubmission", "activity.form_submission"),
    "lead_merge": ("LeadMerge", None),  # Close logs no events for lead-merge activities
}

# stream -> what ``Workspace.truth`` serves for it (every one is a full-refresh list except custom_objects).
STREAMS = (
    "forms", "custom_objects", "custom_object_types", "custom_object_custom_fields", "shared_custom_fields",
    "comment_threads", "comments", "phone_numbers", "blocked_phone_numbers", "sms_templates", "outcomes",
    "unsubscribed_emails", "scheduling_links", "shared_scheduling_links", "groups", "webhooks",
    "sequence_subscriptions", "playbooks", "memberships",
)

_FORM_POOL = (
    ("Contact us", (("Name", "text", None), ("Email", "email", None), ("Company", "text", None),
                    ("Message", "textarea", None))),
    ("Request a demo", (("Email", "email", None), ("Team size", "select", ("1-10", "11-50", "51-200", "200+")),
                        ("Phone", "phone", None))),
    ("Newsletter signup", (("Email", "email", None),)),
    ("Partner application", (("Company", "text", None), ("Website", "url", None),
                             ("Region", "select", ("EMEA", "Americas", "APAC")))),
)
_OBJECT_TYPE_POOL = (
    ("Subscription", "Subscriptions", "Recurring plans a customer is on.",
     (("Plan", "choices", False, ("Starter", "Growth", "Enterprise")), ("Seats", "number", False, None),
      ("Renewal date", "date", False, None), ("Add-ons", "choices", True, ("SSO", "Audit log", "Sandbox")))),
    ("Property", "Properties", "Buildings a lead manages.",
     (("Address", "text", False, None), ("Units", "number", False, None), ("Listed at", "datetime", False, None))),
    ("Support ticket", "Support tickets", None,
     (("Severity", "choices", False, ("low", "normal", "high", "urgent")), ("Opened", "datetime", False, None),
      ("Summary", "textarea", False, None))),
)
_OUTCOMES = (("Interested", ["calls", "meetings"]), ("Not interested", ["calls"]), ("Left voicemail", ["calls"]),
             ("Wrong number", ["calls"]), ("Demo booked", ["calls", "meetings"]), ("No show", ["meetings"]))
_GROUP_NAMES = ("Sales team", "SDRs", "Account managers", "EMEA", "Support")
_COMMENTS = ("Can you take this one, {first}?", "Followed up by phone, waiting on legal.",
             "Pricing approved for {q} seats.", "Looping in the account team here.", "Great call, thanks {first}!",
             "They asked for a case study from their industry.")
_BLOCK_REASONS = ("Spam caller", "Robocall", "Asked not to be called", "Harassment")
_WEBHOOK_EVENTS = (("lead", "created"), ("lead", "updated"), ("opportunity", "updated"),
                   ("activity.call", "completed"), ("contact", "created"), ("task.lead", "completed"))


def _phone(rng: random.Random) -> tuple[str, str]:
    number = f"+1{rng.randrange(2012000000, 9899999999)}"
    return number, f"+1 {number[2:5]}-{number[5:8]}-{number[8:]}"


class Workspace:
    """The resources above for one organisation; lists are kept in their endpoint's order."""

    def __init__(self, org: "Organization"):
        self.org = org
        self._gen_forms()
        self._gen_custom_objects()
        self._gen_comments()
        self._gen_phone_settings()
        self._gen_templates_and_outcomes()
        self._gen_people()
        self._gen_sequence_subscriptions()

    def _rng(self, part: str) -> random.Random:
        return self.org._rng("workspace:" + part)

    def _span(self, rng: random.Random) -> tuple[int, int, str]:
        """(created, updated, user id) of a settings object."""
        org = self.org
        created = pick_between(rng, org.anchor_us - 600 * DAY, org.anchor_us - 2 * DAY)
        return created, later(rng, created, org.anchor_us, 0.4), rng.choice(org.users)["id"]

    def _stamps(self, created: int, updated: int, user: str) -> dict:
        return {"organization_id": self.org.organization_id, "created_by": user, "updated_by": user,
                "date_created": fmt_tz_ms(created), "date_updated": fmt_tz_ms(updated)}

    # -- generation ------------------------------------------------------------------------------------

    def _gen_forms(self) -> None:
        rng = self._rng("forms")
        self.forms = []
        for name, fields in _FORM_POOL[: rng.randint(3, 4)]:
            created, updated, user = self._span(rng)
            self.forms.append({
                "id": rand_id(rng, "form_", 22), "name": name, "is_archived": rng.random() < 0.15,
                "fields": [{"id": rand_id(rng, "formfld_", 22), "name": fname, "type": ftype, "required": fname == "Email",
                            "choices": list(choices) if choices else None} for fname, ftype, choices in fields],
                **self._stamps(created, updated, user)})
        self.forms.sort(key=lambda f: (f["date_created"], f["id"]))

    def _gen_custom_objects(self) -> None:
        from .models import Table  # the model module imports this one

        org = self.org
        rng = self._rng("custom_objects")
        self.custom_object_types, self.custom_object_fields = [], []
        for name, plural, desc, fields in _OBJECT_TYPE_POOL[: rng.randint(2, 3)]:
            created, updated, user = self._span(rng)
            tid = rand_id(rng, "cotype_", 22)
            refs = []
            for fname, ftype, multi, choices in fields:
                d = org.builder.custom_field_def(rng, fname, ftype, multi, choices, None, created + rng.randrange(0, HOUR),
                                                 custom_object_type_id=tid, required=rng.random() < 0.2)
                self.custom_object_fields.append(d)
                refs.append({"id": d["id"], "name": fname, "type": ftype, "description": None, "required": d["required"],
                             "accepts_multiple_values": multi, "editable_with_roles": [], "is_shared": False,
                             "referenced_custom_type_id": None, "back_reference_is_visible": None,
                             "converting_to_type": None})
            self.custom_object_types.append({
                "id": tid, "name": name, "name_plural": plural, "description": desc, "api_create_only": False,
                "editable_with_roles": [], "fields": refs, "back_reference_fields": [],
                **self._stamps(created, updated, user)})
        # instances, each on a lead; indexed like the classic objects so data/search/ can page them
        self.custom_objects = Table()
        leads = [lid for _, lid in org.lead_pool]
        items = []
        for _ in range(max(30, len(leads) // 10)):
            lid = rng.choice(leads)
            lead_created = org.leads.keys[lid][0]
            ctype = rng.choice(self.custom_object_types)
            created = pick_between(rng, lead_created, org.anchor_us - HOUR)
            updated = later(rng, created, org.anchor_us, 0.5)
            user = rng.choice(org.users)["id"]
            defs = [d for d in self.custom_object_fields if d["custom_object_type_id"] == ctype["id"]]
            rec = {"id": rand_id(rng, "custobj_", 22), "custom_object_type_id": ctype["id"], "lead_id": lid,
                   "name": f"{ctype['name']} {rng.randrange(1000, 9999)}", **self._stamps(created, updated, user)}
            rec.update(org.builder.custom_values(rng, defs, list(org.children.get(lid, {}).get("contacts", [])), created,
                                                 org.anchor_us, fill=0.8))
            items.append((rec, (created, updated)))
        self.custom_objects.bulk_load(items)

    def _gen_comments(self) -> None:
        """Threads on leads and opportunities, each with one to four comments."""
        org = self.org
        rng = self._rng("comments")
        self.comment_threads, self.comments = [], []
        leads = [lid for _, lid in org.lead_pool]
        opps = [(oid, lid) for _, oid, lid in org.opp_pool]
        for n in range(max(12, len(leads) // 20)):
            if n % 3 == 2 and opps:
                object_id, lead_id = rng.choice(opps)
                object_type = "opportunity"
            else:
                object_id = lead_id = rng.choice(leads)
                object_type = "lead"
            tid = rand_id(rng, "cmtthr_", 22)
            start = pick_between(rng, org.anchor_us - 300 * DAY, org.anchor_us - DAY)
            comments = []
            at = start
            for _ in range(rng.randint(1, 4)):
                user = rng.choice(org.users)
                first = rng.choice(FIRST_NAMES)
                text = rng.choice(_COMMENTS).format(first=first, q=rng.randint(5, 80))
                edited = rng.random() < 0.2
                comments.append({
                    "id": rand_id(rng, "comm_", 22), "thread_id": tid, "object_id": object_id,
                    "object_type": object_type, "lead_id": lead_id, "body": f"<body><p>{text}</p></body>",
                    "is_deleted": False, "permissions": ["read", "update", "delete"] if user is org.me else ["read"],
                    **self._stamps(at, at + (rng.randrange(60, 3600) * SECOND if edited else 0), user["id"])})
                at += rng.randrange(5, 48 * 60) * MINUTE
            self.comments.extend(comments)
            self.comment_threads.append({
                "id": tid, "object_id": object_id, "object_type": object_type, "lead_id": lead_id,
                "comment_count": len(comments), "organization_id": org.organization_id,
                "date_created": comments[0]["date_created"], "date_updated": comments[-1]["date_created"]})
        self.comment_threads.sort(key=lambda t: (t["date_created"], t["id"]))

    def _gen_phone_settings(self) -> None:
        org = self.org
        rng = self._rng("phone_numbers")
        self.phone_numbers = []
        owners = [None] + org.users[: min(len(org.users), 5)]
        for owner in owners:
            created, updated, _ = self._span(rng)
            number, pretty = _phone(rng)
            group = owner is None
            self.phone_numbers.append({
                "id": rand_id(rng, "phon_"), "number": number, "number_formatted": pretty,
                "label": "Main line" if group else f"{owner['first_name']}'s line", "type": "internal",
                "user_id": None if group else owner["id"], "is_group_number": group,
                "participants": [u["id"] for u in org.users[:3]] if group else [],
                "phone_numbers": [], "phone_numbers_formatted": [], "carrier": rng.choice(["twilio", "plivo"]),
                "carrier_type": rng.choice(["local", "local", "mobile", "tollfree"]), "country": "US",
                "address_id": None, "bundle_id": None, "forward_to": None, "forward_to_enabled": False,
                "forward_to_formatted": None, "is_premium": False, "is_verified": True,
                "last_billed_price": rng.choice(["1.15", "2.0", "2.5"]), "mms_enabled": rng.random() < 0.5,
                "sms_enabled": True, "next_billing_on": fmt_date(org.anchor_us + rng.randrange(1, 28) * DAY),
                "press_1_to_accept": False, "supports_mms_to_countries": ["US", "CA"],
                "supports_sms_to_countries": ["US", "CA"], "voicemail_greeting_url": None, "was_ported": rng.random() < 0.2,
                "organization_id": org.organization_id, "date_created": fmt_tz_ms(created), "date_updated": fmt_tz_ms(updated)})
        self.phone_numbers.sort(key=lambda p: (p["date_created"], p["id"]))
        self.blocked_phone_numbers = []
        for _ in range(rng.randint(3, 6)):
            created, updated, user = self._span(rng)
            self.blocked_phone_numbers.append({"id": rand_id(rng, "blkphone_", 22), "phone": _phone(rng)[0],
                                               "reason": rng.choice(_BLOCK_REASONS), **self._stamps(created, updated, user)})
        self.blocked_phone_numbers.sort(key=lambda p: (p["date_created"], p["id"]))

    def _gen_templates_and_outcomes(self) -> None:
        org = self.org
        rng = self._rng("templates")
        self.sms_templates = []
        for n, text in enumerate(SMS_TEXTS):
            created, updated, user = self._span(rng)
            self.sms_templates.append({
                "id": rand_id(rng, "smstmpl_", 22), "name": f"{['Follow-up', 'Reminder', 'Intro', 'Thanks'][n % 4]} SMS {n + 1}",
                "text": text.format(first="{{ contact.first_name }}"), "is_shared": rng.random() < 0.7,
                "status": "active" if rng.random() < 0.85 else "archived", "attachments": [],
                **self._stamps(created, updated, user)})
        self.sms_templates.sort(key=lambda t: (t["date_created"], t["id"]))
        self.outcomes = []
        for name, applies in _OUTCOMES[: rng.randint(4, 6)]:
            created, updated, user = self._span(rng)
            self.outcomes.append({"id": rand_id(rng, "outcome_", 22), "name": name, "description": None,
                                  "type": "vm-dropped" if name == "Left voicemail" else "custom", "applies_to": applies,
                                  **self._stamps(created, updated, user)})
        self.outcomes.sort(key=lambda o: (o["date_created"], o["id"]))
        self.playbooks = []
        for pos, name in enumerate(("Discovery call", "Renewal review", "Objection handling")[: rng.randint(2, 3)]):
            created, updated, user = self._span(rng)
            archived = pos == 2 and rng.random() < 0.5
            self.playbooks.append({
                "id": rand_id(rng, "playbook_", 22), "name": name, "description": None, "position": pos,
                "summary_guidance": rng.choice([None, "Summarize budget, authority, need and timeline."]),
                "outcome_ids": [o["id"] for o in rng.sample(self.outcomes, 2)],
                "custom_field_ids": [d["id"] for d in org.custom_fields["lead"][:2]],
                "archived_at": fmt_tz_ms(updated) if archived else None, "archived_by_id": user if archived else None,
                "organization_id": org.organization_id, "created_by_id": user, "updated_by_id": user,
                "created_at": fmt_tz_ms(created), "updated_at": fmt_tz_ms(updated)})
        self.scheduling_links, self.shared_scheduling_links = [], []
        for u in org.users[: min(len(org.users), 4)]:
            created, updated, _ = self._span(rng)
            calendly = rng.random() < 0.5
            handle = f"{u['first_name'].lower()}-{u['last_name'].lower()}"
            self.scheduling_links.append({
                "id": rand_id(rng, "schedlink_", 22), "name": f"30 minute meeting with {u['first_name']}",
                "url": f"https://calendly.com/{handle}/30min" if calendly else f"https://meet.example.com/{handle}",
                "description": None, "source": "CALENDLY" if calendly else "MANUAL",
                "source_id": rand_chars(rng, 16) if calendly else None, "source_type": "Calendly" if calendly else None,
                "duration_in_minutes": 30 if calendly else None, "user_id": u["id"],
                **self._stamps(created, updated, u["id"])})
        created, updated, user = self._span(rng)
        self.shared_scheduling_links.append({
            "id": rand_id(rng, "sharedschedlink_", 22), "name": "Book a demo", "description": "Round robin across the sales team.",
            "associations": [{"user_id": link["user_id"], "user_scheduling_link_id": link["id"], "url": None}
                             for link in self.scheduling_links[:2]],
            **self._stamps(created, updated, user)})

    def _gen_people(self) -> None:
        org = self.org
        rng = self._rng("people")
        roles = ["admin"] + [r["id"] for r in org.roles[1:]]
        self.memberships = []
        for n, u in enumerate(org.users):
            self.memberships.append({
                "id": "memb_" + u["id"][5:], "user_id": u["id"], "user_email": u["email"],
                "user_first_name": u["first_name"], "user_last_name": u["last_name"],
                "user_full_name": f"{u['first_name']} {u['last_name']}", "user_image": u["image"],
                "role_id": roles[0] if n == 0 else rng.choice(roles), "organization_id": org.organization_id,
                "date_created": u["date_created"], "date_updated": u["date_updated"]})
        self.groups = []
        for name in rng.sample(_GROUP_NAMES, rng.randint(2, 3)):
            members = rng.sample(org.users, rng.randint(1, min(4, len(org.users))))
            self.groups.append({"id": rand_id(rng, "group_", 22), "name": name, "organization_id": org.organization_id,
                                "members": [{"user_id": u["id"]} for u in members]})
        self.groups.sort(key=lambda g: g["id"])
        self.webhooks = []
        for n in range(rng.randint(2, 3)):
            created, updated, user = self._span(rng)
            events = [{"object_type": ot, "action": action, "extra_filter": None}
                      for ot, action in rng.sample(_WEBHOOK_EVENTS, rng.randint(1, 3))]
            self.webhooks.append({
                "id": rand_id(rng, "whsub_", 22), "url": f"https://hooks.{slug(org.organization_name)}.com/close/{n + 1}",
                "events": events, "status": "active" if n else rng.choice(["active", "paused"]), "verify_ssl": True,
                **self._stamps(created, updated, user)})
        self.webhooks.sort(key=lambda w: (w["date_created"], w["id"]))
        self.unsubscribed_emails = sorted(
            {f"{rng.choice(FIRST_NAMES).lower()}.{rng.choice(LAST_NAMES).lower()}@{slug(org.lead_info[rng.choice(org.lead_pool)[1]][0])}.com"
             for _ in range(rng.randint(6, 10))})

    def _gen_sequence_subscriptions(self) -> None:
        org = self.org
        rng = self._rng("sequence_subscriptions")
        self.sequence_subscriptions = []
        contacts = sorted(org.contacts.records)
        account = org.connected_accounts[0]
        for seq in org.sequences:
            for cid in rng.sample(contacts, min(len(contacts), rng.randint(3, 12))):
                contact = org.contacts.records[cid]
                email = contact["emails"][0]["email"] if contact["emails"] else None
                created = pick_between(rng, org.anchor_us - 200 * DAY, org.anchor_us - HOUR)
                updated = later(rng, created, org.anchor_us, 0.6)
                status = rng.choice(["active", "active", "paused", "finished", "goal", "error"])
                user = rng.choice(org.users)
                self.sequence_subscriptions.append({
                    "id": rand_id(rng, "sub_", 22), "sequence_id": seq["id"], "contact_id": cid,
                    "lead_id": contact["lead_id"], "contact_email": email, "status": status,
                    "pause_reason": "manual" if status == "paused" else None,
                    "sender_account_id": account["id"], "sender_name": f"{user['first_name']} {user['last_name']}",
                    "sender_email": user["email"], "from_phone_number_id": None, "calls_assigned_to": [user["id"]],
                    "organization_id": org.organization_id, "created_by_id": user["id"], "updated_by_id": user["id"],
                    "date_created": fmt_naive(created), "date_updated": fmt_naive(updated)})
        self.sequence_subscriptions.sort(key=lambda s: (s["date_created"], s["id"]))

    # -- activities ------------------------------------------------------------------------------------

    def activity_fields(self, kind: str, rng: Any, rec: dict, created: int, contact: tuple | None,
                        first: str, domain: str) -> dict:
        """The type-specific fields of a WhatsApp message, form submission or lead merge activity."""
        org = self.org
        if kind == "whatsapp_message":
            incoming = rng.random() < 0.5
            remote = contact[3] if contact and contact[3] else f"+1{rng.randrange(2012000000, 9899999999)}"
            text = rng.choice(SMS_TEXTS).format(first=first)
            return {"direction": "incoming" if incoming else "outgoing",
                    "external_whatsapp_message_id": "wamid." + rand_chars(rng, 40),
                    "local_phone": "+14155550100", "local_phone_formatted": "+1 415-555-0100",
                    "remote_phone": remote, "remote_phone_formatted": f"+1 {remote[2:5]}-{remote[5:8]}-{remote[8:]}",
                    "message_markdown": text, "message_html": f"<p>{text}</p>", "text": text, "attachments": [],
                    "integration_name": "WhatsApp", "integration_link": None, "response_to_id": None,
                    "source": "external", "sequence_id": None, "sequence_name": None, "sequence_subscription_id": None}
        if kind == "form_submission":
            form = self.forms[rng.randrange(len(self.forms))]
            values, by_name = {}, {}
            for f in form["fields"]:
                if f["type"] == "email":
                    value = contact[2] if contact and contact[2] else f"{first.lower()}@{domain}.com"
                elif f["type"] == "select":
                    value = rng.choice(f["choices"])
                elif f["type"] == "phone":
                    value = contact[3] if contact and contact[3] else None
                elif f["type"] == "url":
                    value = f"https://www.{domain}.com"
                elif f["type"] == "textarea":
                    value = rng.choice(NOTES).format(first=first, q=rng.randint(1, 4), n=rng.randint(2, 40))
                else:
                    value = contact[1] if (contact and f["name"] == "Name") else domain.replace("-", " ").title()
                values[f["id"]] = value
                by_name[f["name"]] = value
            path = rng.choice(["/contact", "/demo", "/pricing", "/"])
            return {"form_id": form["id"], "form_name": form["name"], "form_configuration_id": "formcfg_" + form["id"][5:],
                    "values": values, "values_by_name": by_name,
                    "ip_address": f"{rng.randrange(11, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                    "origin": f"https://www.{domain}.com", "source_url": f"https://www.{domain}.com{path}?utm_source=google",
                    "source_url_normalized": f"www.{domain}.com{path}", "user_id": None, "user_name": None, "users": [],
                    "created_by": None, "created_by_name": None, "updated_by": None, "updated_by_name": None}
        # lead_merge: the lead the activity is on is the destination; the source lead is gone
        return {"source_lead_id": "lead_" + rand_chars(rng, 43), "destination_lead_id": rec["lead_id"],
                "merge_status": "completed" if created < org.anchor_us - MINUTE else rng.choice(["in_progress", "completed"]),
                "contact_id": None}

    # -- changes ---------------------------------------------------------------------------------------

    def change_custom_object(self, rng: random.Random, action: str, rid: str | None, fields: dict, now: int,
                             events: list) -> dict:
        """Create, update or delete one custom object (``Organization.mutate``), with its event."""
        org, table = self.org, self.custom_objects
        if action == "create":
            lead = org.leads.get(fields["lead_id"]) if fields.get("lead_id") else org.mutations.random_lead(rng)
            if lead is None:
                raise ValueError(f"unknown lead {fields.get('lead_id')!r}")
            ctype = next((t for t in self.custom_object_types if t["id"] == fields.get("custom_object_type_id")),
                         None) or rng.choice(self.custom_object_types)
            defs = [d for d in self.custom_object_fields if d["custom_object_type_id"] == ctype["id"]]
            rec = {"id": rand_id(rng, "custobj_", 22), "custom_object_type_id": ctype["id"], "lead_id": lead["id"],
                   "name": f"{ctype['name']} {rng.randrange(1000, 9999)}", **self._stamps(now, now, org.me["id"])}
            rec.update(org.builder.custom_values(rng, defs, [], now, now + DAY))
            rec.update({k: v for k, v in fields.items() if k != "id"})
            table.add(rec, (now, now))
            org.mutations.emit(rng, events, now, "created", "custom_object", rec["id"], rec["lead_id"], rec, path="custom_object/")
            return rec
        old = table.get(rid) if rid else None
        if old is None:
            raise ValueError(f"unknown custom_object {rid!r}")
        path = f"custom_object/{rid}/"
        if action == "delete":
            table.remove(rid)
            org.mutations.emit(rng, events, now, "deleted", "custom_object", rid, old["lead_id"], None, old, None, path)
            return old
        fields = fields or {"name": f"{old['name']} (edited)"}
        return self._replace_custom_object(rng, old, {k: v for k, v in fields.items() if k not in ("id", "lead_id")},
                                           now, events)

    def move_custom_objects(self, rng: random.Random, source: str, destination: str, now: int, events: list,
                            meta: dict) -> list[dict]:
        """A lead merge: every custom object of ``source`` goes to ``destination``, one updated event each."""
        table = self.custom_objects
        return [self._replace_custom_object(rng, table.records[rid], {"lead_id": destination}, now, events, meta)
                for rid in sorted(r for r, rec in table.records.items() if rec["lead_id"] == source)]

    def _replace_custom_object(self, rng: random.Random, old: dict, changes: dict, now: int, events: list,
                               meta: dict | None = None) -> dict:
        table, rid = self.custom_objects, old["id"]
        new = {**old, **changes, "date_updated": fmt_tz_ms(now)}
        table.replace(new, (table.keys[rid][0], now))
        changed = sorted({k for k in new if new.get(k) != old.get(k)} | {"date_updated"})
        self.org.mutations.emit(rng, events, now, "updated", "custom_object", rid, new["lead_id"], new,
                                {k: old.get(k) for k in changed}, changed, f"custom_object/{rid}/", meta)
        return new

    # -- ground truth ----------------------------------------------------------------------------------

    def truth(self, stream: str, lo: int | None = None) -> list[dict]:
        if stream == "custom_objects":
            return self.custom_objects.window("date_updated", lo).page(0, 1 << 62, False)
        if stream == "custom_object_custom_fields":
            return self.custom_object_fields
        if stream == "shared_custom_fields":
            return self.org.custom_field_list("shared")
        if stream == "comments":  # read thread after thread
            by_thread: dict[str, list[dict]] = {}
            for c in self.comments:
                by_thread.setdefault(c["thread_id"], []).append(c)
            return [c for t in self.comment_threads for c in by_thread.get(t["id"], [])]
        if stream == "unsubscribed_emails":  # the connector names each row by its address
            return [{"id": email, **row} for email, row in ((r["email"], r) for r in self._unsubscribed_rows())]
        if stream == "sequence_subscriptions":
            return [s for seq in self.org.sequences for s in self.sequence_subscriptions if s["sequence_id"] == seq["id"]]
        return getattr(self, stream)

    def _unsubscribed_rows(self) -> list[dict]:
        return [{"email": email} for email in self.unsubscribed_emails]


# --------------------------------------------------------------------------------------------- responses


class WorkspaceAPI:
    """The list endpoints of the resources above (``routes.API_ROUTES`` names these handlers)."""

    def __init__(self, api: "CloseAPI"):
        self.api = api

    @property
    def ws(self) -> Workspace:
        return self.api.org.workspace

    def offset_list(self, q, head: str, records: str) -> dict:
        return self.api.offset_list(q, head, self._filtered(head, q, getattr(self.ws, records)))

    def unpaged(self, q, records: str) -> dict:
        return self.api.unpaged(q, getattr(self.ws, records))

    def unsubscribed_emails(self, q) -> dict:
        return self.api.unpaged(q, self.ws._unsubscribed_rows())

    def custom_object_fields(self, q) -> dict:
        return self.api.unpaged(q, self.ws.custom_object_fields)

    def groups(self, q) -> dict:
        """The list leaves out members (only ``group/<id>/`` has them)."""
        return self.api.unpaged(q, [{k: v for k, v in g.items() if k != "members"} for g in self.ws.groups])

    def group(self, q, id: str) -> dict:
        return self.api.single(q, next((g for g in self.ws.groups if g["id"] == id), None), "Group")

    @staticmethod
    def _filtered(head: str, q, records: list[dict]) -> list[dict]:
        if head == "playbook":
            raw = one(q, "is_archived")
            if raw is not None:
                want = raw.lower() in ("true", "1", "yes")
                records = [r for r in records if (r["archived_at"] is not None) == want]
        if head == "phone_number":
            for key in ("user_id", "number"):
                raw = one(q, key)
                if raw is not None:
                    records = [r for r in records if r.get(key) == raw]
        return records

    def comments(self, q) -> dict:
        thread_id, object_id = one(q, "thread_id"), one(q, "object_id")
        if bool(thread_id) == bool(object_id):
            raise bad("Exactly one of thread_id or object_id must be provided.")
        key, value = ("thread_id", thread_id) if thread_id else ("object_id", object_id)
        return self.api.unpaged(q, [c for c in self.ws.comments if c[key] == value])

    def sequence_subscriptions(self, q) -> dict:
        given = {k: one(q, k) for k in ("sequence_id", "contact_id", "lead_id") if one(q, k)}
        if not given:
            raise bad("At least one of sequence_id, contact_id or lead_id is required.")
        rows = [s for s in self.ws.sequence_subscriptions if all(s[k] == v for k, v in given.items())]
        return self.api.offset_list(q, "sequence_subscription", rows)

    def custom_objects(self, q) -> dict:
        lead_id = one(q, "lead_id")
        if not lead_id:
            raise ApiError(400, {"errors": [], "field-errors": {"lead_id": "This field is required."}})
        type_id = one(q, "custom_object_type_id")
        rows = self.ws.custom_objects.window("date_created").page(0, 1 << 62, False)
        return self.api.unpaged(q, [r for r in rows if r["lead_id"] == lead_id
                                    and (not type_id or r["custom_object_type_id"] == type_id)])


# Advanced Filtering reaches custom objects too: object type -> the workspace table it searches.
def searchable(org: "Organization") -> dict:
    return {"custom_object": org.workspace.custom_objects}
