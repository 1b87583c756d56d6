"""Generation: the organisation's state as it stands at the anchor, from (seed, scale, anchor).

``Generation(org).run()`` fills ``org``: settings and custom fields (``SettingsGeneration``), leads with their
contacts, opportunities and tasks, the activity stores, the workspace resources and the event log of the 30 days
before the anchor. Each part draws from its own seeded generator, so one part's size never shifts another's values.
"""

from __future__ import annotations

import random
from array import array
from bisect import bisect_left

from .generator import (
    ACTIVITY_TYPE_POOL, CONTACT_FIELD_POOL, DAY, EMAIL_SUBJECTS, FIRST_NAMES, HOUR, LAST_NAMES, LEAD_FIELD_POOL,
    MINUTE, NOTES, OPPORTUNITY_FIELD_POOL, ROLE_PERMISSIONS, SHARED_FIELD_POOL, fmt_naive, fmt_tz_ms, later,
    make_times, months_between, pick_between, rand_chars, rand_id, slug,
)
from . import workspace
from .models import (
    ACTIVITY_EVENT_TYPES, ACTIVITY_KINDS, BULK_KINDS, CONNECTED_ACCOUNT_TYPES, CUSTOM_FIELD_OBJECTS,
    EVENT_RETENTION_US, START_US, TASK_TYPES, ActivityStore, Table, _event_groups, _event_view, _LazyRef,
)


class Generation:
    """Generates one organisation's state into ``org`` (see the module docstring)."""

    def __init__(self, org):
        self.org = org
        self.settings = SettingsGeneration(org)

    def _plan_bursts(self) -> None:
        """Import bursts: many records sharing one instant, at midnight UTC on the 1st of a month."""
        org = self.org
        rng = org._rng("bursts")
        months = months_between(START_US + 60 * DAY, org.anchor_us - 60 * DAY)
        org.main_burst = rng.choice(months) if months else START_US + 31 * DAY
        recent = months_between(org.anchor_us - 28 * DAY - 1, org.anchor_us)
        org.recent_burst = recent[-1] if recent and recent[-1] < org.anchor_us - HOUR else None
        org.burst_instants = [org.main_burst] + ([org.recent_burst] if org.recent_burst else [])

    def _bursts_for(self, what: str) -> list[tuple[int, int]]:
        org = self.org
        size = org.cfg["burst"].get(what, org.cfg["burst"]["other"])
        out = [(org.main_burst, size)]
        if org.recent_burst:
            out.append((org.recent_burst, org.cfg["recent_burst"].get(what, org.cfg["recent_burst"]["other"])))
        return out

    def run(self) -> None:
        org = self.org
        self._plan_bursts()
        self.settings.run()
        org.events = Table(fields=("date_updated",), groups=_event_groups, view=_event_view)
        self._gen_leads()
        self._gen_activities()
        org.workspace = workspace.Workspace(org)
        self._gen_history_events()

    def _gen_leads(self) -> None:
        org = self.org
        rng = org._rng("leads")
        cfg = org.cfg
        org.leads = Table(view=org._lead_view)
        org.contacts = Table()
        org.opportunities = Table()
        org.tasks = Table(groups=lambda r: (r["_type"],))
        org.children: dict[str, dict[str, list[str]]] = {}
        # lead id -> (display name, ((contact id, name, email, phone), ...)) as generated; activities
        # are derived from this snapshot so later edits do not rewrite history
        org.lead_info: dict[str, tuple[str, tuple]] = {}
        org.base_opp_snapshot: dict[str, dict] = {}
        org.base_task_snapshot: dict[str, dict] = {}
        anchor = org.anchor_us
        times = make_times(rng, cfg["leads"], START_US, anchor - HOUR, self._bursts_for("leads"))
        burst_set = set(org.burst_instants)
        lead_items, contact_items, opp_items, task_items = [], [], [], []
        contact_by_id: dict[str, dict] = {}
        opp_by_id: dict[str, dict] = {}
        for t in times:
            in_burst = t in burst_set
            lead_updated = t if in_burst else later(rng, t, anchor, 0.6)
            lead = org.builder.build_lead(rng, t, lead_updated)
            lid = lead["id"]
            ch = org.children[lid] = {"contacts": [], "opportunities": [], "tasks": []}
            cinfo = []
            newest = lead_updated
            for k in range(1 if in_burst else rng.choice([1, 1, 2, 2, 3])):
                cc = t if (in_burst or k == 0) else min(anchor - 2000, t + rng.randrange(0, 60 * DAY // 1000) * 1000)
                cu = cc if in_burst else later(rng, cc, anchor, 0.4)
                c = org.builder.build_contact(rng, lid, lead["display_name"], cc, cu, ch["contacts"])
                ch["contacts"].append(c["id"])
                contact_items.append((c, (cc, cu)))
                contact_by_id[c["id"]] = c
                emails = c["emails"]
                phones = c["phones"]
                cinfo.append((c["id"], c["name"] or "", emails[0]["email"] if emails else None,
                              phones[0]["phone"] if phones else None))
                newest = max(newest, cu)
            org.builder.finish_lead_custom(rng, lead, ch["contacts"], t)
            org.lead_info[lid] = (lead["display_name"], tuple(cinfo))
            lead_items.append([lead, t, newest])
        # opportunities: burst leads get theirs inside the burst
        by_time = lead_items
        n_opps = int(len(by_time) * cfg["opportunities"])
        burst_leads = {b: [li for li in by_time if li[1] == b] for b in org.burst_instants}

        def owners_of(kind: str, count: int) -> list:
            """(lead item, burst instant or None) for ``count`` children: the burst's leads first, then random
            leads outside any burst."""
            owners = [(li, b) for b, size in self._bursts_for(kind) for li in burst_leads[b][:size]]
            while len(owners) < count:
                li = rng.choice(by_time)
                if li[1] not in burst_set:
                    owners.append((li, None))
            return owners

        for li, b in owners_of("opportunities", n_opps):
            lead, t = li[0], li[1]
            oc = b if b is not None else min(anchor - 2000, t + rng.randrange(0, 90 * DAY // 1000) * 1000)
            ou = oc if b is not None else later(rng, oc, anchor, 0.6)
            cids = org.children[lead["id"]]["contacts"]
            contact = contact_by_id[rng.choice(cids)] if cids else None
            o = org.builder.build_opportunity(rng, lead, contact, oc, ou)
            org.children[lead["id"]]["opportunities"].append(o["id"])
            opp_items.append((o, (oc, ou)))
            opp_by_id[o["id"]] = o
            li[2] = max(li[2], ou)
        # tasks of every type, each with its own bursts
        for typ in TASK_TYPES:
            count = cfg["lead_tasks"] if typ == "lead" else cfg["other_tasks"]
            for li, b in owners_of("tasks", count):
                lead, t = li[0], li[1]
                tc = b if b is not None else min(anchor - 2000, t + rng.randrange(0, 120 * DAY // 1000) * 1000)
                tu = tc if b is not None else later(rng, tc, anchor, 0.5, 60)
                cids = org.children[lead["id"]]["contacts"]
                contact = contact_by_id[rng.choice(cids)] if cids else None
                opp = None
                if typ == "opportunity_due":
                    oids = org.children[lead["id"]]["opportunities"]
                    opp = opp_by_id[oids[0]] if oids else None
                task = org.builder.build_task(rng, typ, lead, contact, tc, tu, opp)
                org.children[lead["id"]]["tasks"].append(task["id"])
                task_items.append((task, (tc, tu)))
                li[2] = max(li[2], tu)
        # a lead's date_updated follows its children
        final_leads = []
        for lead, t, newest in lead_items:
            if fmt_tz_ms(newest) != lead["date_updated"]:
                lead = {**lead, "date_updated": fmt_tz_ms(newest)}
            final_leads.append((lead, (t, newest)))
        org.leads.bulk_load(final_leads)
        org.contacts.bulk_load(contact_items)
        org.opportunities.bulk_load(opp_items)
        org.tasks.bulk_load(task_items)
        org.base_opp_snapshot = {o["id"]: o for o, _ in opp_items}
        org.base_task_snapshot = {t["id"]: t for t, _ in task_items}
        # parent pools for derived activities, in (date_created, id) order
        org.lead_pool = [(keys[0], lead["id"]) for lead, keys in final_leads]
        org.lead_pool.sort()
        org.opp_pool = sorted((keys[0], o["id"], o["lead_id"]) for o, keys in opp_items)
        org.task_pool = sorted((keys[0], tk["id"], tk["lead_id"]) for tk, keys in task_items if tk["_type"] == "lead")

    def _gen_activities(self) -> None:
        org = self.org
        org.activity_stores: dict[str, ActivityStore] = {}
        lead_times = array("q", [t for t, _ in org.lead_pool])
        lead_ids = [lid for _, lid in org.lead_pool]
        for code, kind in enumerate(ACTIVITY_KINDS):
            rng = org._rng("activity-times:" + kind)
            if kind == "created":
                times = lead_times
                p_times, p_ids, p_leads = lead_times, lead_ids, None
            else:
                n = org.cfg["activities"][kind]
                times = array("q", make_times(rng, n, START_US + DAY, org.anchor_us - 30 * MINUTE,
                                              self._bursts_for(kind), 0.4 if kind in ("email", "emailthread") else 0.0))
                if kind == "status_change/opportunity":
                    p_times = array("q", [t for t, _, _ in org.opp_pool])
                    p_ids, p_leads = [o for _, o, _ in org.opp_pool], [l for _, _, l in org.opp_pool]
                elif kind == "task_completed":
                    p_times = array("q", [t for t, _, _ in org.task_pool])
                    p_ids, p_leads = [o for _, o, _ in org.task_pool], [l for _, _, l in org.task_pool]
                else:
                    p_times, p_ids, p_leads = lead_times, lead_ids, None
            org.activity_stores[kind] = ActivityStore(org, kind, code, times, p_times, p_ids, p_leads)

    def _gen_history_events(self) -> None:
        """The event log of the 30 days before the anchor: creations, updates, deletions."""
        org = self.org
        rng = org._rng("events")
        w = org.anchor_us - EVENT_RETENTION_US
        items: list[tuple[dict, tuple[int]]] = []

        def emit(at, action, otype, oid, lead_id, user_id, data, prev=None, changed=None, meta=None):
            ev = org.new_event(rng, at, action, otype, oid, lead_id, user_id, data, prev, changed, meta)
            items.append((ev, (at,)))

        path_meta = lambda path, method: {"request_path": f"/api/v1/{path}", "request_method": method}
        for table, otype, path in ((org.leads, "lead", "lead/"), (org.contacts, "contact", "contact/"),
                                   (org.opportunities, "opportunity", "opportunity/"), (org.tasks, None, "task/")):
            for rid, (cu, uu) in table.keys.items():
                if uu < w:
                    continue
                rec = table.records[rid]
                ot = otype or f"task.{rec['_type']}"
                lead_id = rec["id"] if ot == "lead" else rec.get("lead_id")
                data = table.view(rec)
                if cu >= w:
                    emit(cu, "created", ot, rid, lead_id, rec.get("created_by"), data, None, None, path_meta(path, "POST"))
                if uu > cu:
                    field = {"lead": "description", "contact": "title", "opportunity": "confidence"}.get(ot, "is_complete")
                    prev = {"date_updated": rec["date_created"], field: None}
                    emit(uu, "updated", ot, rid, lead_id, rec.get("updated_by"), data, prev,
                         ["date_updated", field], path_meta(f"{path}{rid}/", "PUT"))
        for kind, store in org.activity_stores.items():
            otype = ACTIVITY_EVENT_TYPES[kind]
            if otype is None:
                continue
            a = bisect_left(store.times, w - 20 * DAY)
            for i in range(a, store.n):
                cu = store.times[i]
                uu = store.updated_us(i)
                if uu < w:
                    continue
                aid, lead_id, uid = store.id_of(i), store.lead_of(i), store.user_of(i)["id"]
                if cu >= w:
                    emit(cu, "created", otype, aid, lead_id, uid, _LazyRef(store, i), None, None,
                         path_meta(f"activity/{kind}/", "POST"))
                if uu > cu + DAY:
                    emit(uu, "updated", otype, aid, lead_id, uid, _LazyRef(store, i),
                         {"date_updated": fmt_tz_ms(cu)}, ["date_updated"], path_meta(f"activity/{kind}/{aid}/", "PUT"))
            # a few activities deleted inside the window: gone from their list, kept in the log
            b = bisect_left(store.times, w)
            span = store.n - b
            for _ in range(min(org.cfg["deleted_activities"], max(0, span // 4))):
                i = b + rng.randrange(span)
                if i in store.deleted or store.times[i] in org.burst_instants:
                    continue
                store.mark_deleted(i)
                at = max(store.updated_us(i), store.times[i]) + rng.randrange(1, 3 * HOUR // 1000) * 1000
                at = min(at, org.anchor_us - 1000)
                emit(at, "deleted", otype, store.id_of(i), store.lead_of(i), store.user_of(i)["id"], None,
                     _LazyRef(store, i), None, path_meta(f"activity/{kind}/{store.id_of(i)}/", "DELETE"))
        # leads created and deleted again: never listed, only visible as deleted events
        for _ in range(org.cfg["deleted_leads"]):
            lc = pick_between(rng, w - 60 * DAY, org.anchor_us - 2 * DAY)
            gone = pick_between(rng, max(lc + HOUR, w), org.anchor_us - HOUR)
            lead = org.builder.build_lead(rng, lc, lc)
            contact = org.builder.build_contact(rng, lead["id"], lead["display_name"], lc, lc, [])
            org.builder.finish_lead_custom(rng, lead, [contact["id"]], lc)
            lead["contacts"] = [contact]
            user = org.builder.user_ref(rng)["id"]
            meta = {"request_path": f"/api/v1/lead/{lead['id']}/", "request_method": "DELETE"}
            if lc >= w:
                emit(lc, "created", "lead", lead["id"], lead["id"], user, lead, None, None, path_meta("lead/", "POST"))
                emit(lc, "created", "contact", contact["id"], lead["id"], user, contact, None, None, path_meta("contact/", "POST"))
            emit(gone, "deleted", "contact", contact["id"], lead["id"], user, None, contact, None, meta)
            emit(gone, "deleted", "lead", lead["id"], lead["id"], user, None, lead, None, meta)
        org.events.bulk_load(items)


class SettingsGeneration:
    """Users, roles, statuses, pipelines, custom fields, templates, sequences, smart views, dialer sessions,
    integration links, send-as grants, connected accounts and bulk actions."""

    def __init__(self, org):
        self.org = org

    def run(self) -> None:
        self._gen_settings()
        self._gen_custom_fields()
        self._gen_misc()

    def _gen_settings(self) -> None:
        org = self.org
        rng = org._rng("settings")
        oid = org.organization_id
        created = START_US + 3 * HOUR
        org.users = []
        names = set()
        while len(org.users) < org.cfg["users"]:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            if (first, last) in names:
                continue
            names.add((first, last))
            uc = created if not org.users else pick_between(rng, created, START_US + 400 * DAY)
            uu = later(rng, uc, org.anchor_us, 0.8)
            uid = rand_id(rng, "user_")
            org.users.append({
                "id": uid, "email": f"{first.lower()}.{last.lower()}@{slug(org.organization_name)}.com",
                "first_name": first, "last_name": last,
                "image": f"https://secure.gravatar.com/avatar/{rand_chars(rng, 32, '0123456789abcdef')}",
                "google_profile_image_url": None if rng.random() < 0.5 else
                f"https://lh3.googleusercontent.com/a/{rand_chars(rng, 28)}",
                "organizations": [oid], "date_created": fmt_tz_ms(uc), "date_updated": fmt_tz_ms(uu),
                "email_verified_at": fmt_tz_ms(uc + 5 * MINUTE),
                "last_used_timezone": rng.choice(["America/New_York", "Europe/Prague", "America/Los_Angeles",
                                                  "Europe/London", "UTC"]),
            })
        org.user_by_id = {u["id"]: u for u in org.users}
        org.me = org.users[0]
        # roles: three built-ins with string ids and year-1 dates, then custom roles
        org.roles = []
        for rid, name, perms in (("admin", "Admin", ROLE_PERMISSIONS), ("superuser", "Super User", ROLE_PERMISSIONS[:9]),
                                 ("restricteduser", "Restricted User", ("calling", "export"))):
            org.roles.append({"id": rid, "name": name, "editable": False, "permissions": list(perms),
                               "organization_id": oid, "date_created": "0001-01-01T00:00:00",
                               "date_updated": "0001-01-01T00:00:00", "visibility_user_lcf_behavior": None,
                               "visibility_user_lcf_ids": []})
        for name in rng.sample(["Sales Rep", "Team Lead", "Support", "Intern", "Finance"], 2):
            rc = pick_between(rng, START_US + 10 * DAY, START_US + 500 * DAY)
            org.roles.append({"id": rand_id(rng, "role_", 22), "name": name, "editable": True,
                               "permissions": sorted(rng.sample(ROLE_PERMISSIONS, 5)), "organization_id": oid,
                               "date_created": fmt_tz_ms(rc), "date_updated": fmt_tz_ms(later(rng, rc, org.anchor_us)),
                               "visibility_user_lcf_behavior": "require_assignment",
                               "visibility_user_lcf_ids": []})
        labels = ["Potential", "Bad Fit", "Qualified", "Customer", "Churned", "Nurture"]
        org.lead_statuses = [{"id": rand_id(rng, "stat_"), "label": lab, "organization_id": oid}
                             for lab in labels[: 4 + rng.randrange(3)]]
        org.pipelines, org.opportunity_statuses = [], []
        for pname, stats in (("Sales", (("Active", "active"), ("Demo Scheduled", "active"), ("Proposal Sent", "active"),
                                        ("Won", "won"), ("Lost", "lost"))),
                             ("Renewals", (("Up for Renewal", "active"), ("Renewed", "won"), ("Churned", "lost")))):
            pc = START_US + rng.randrange(1, 200) * DAY + rng.randrange(0, DAY)
            pid = rand_id(rng, "pipe_", 22)
            ss = []
            for lab, typ in stats:
                st = {"id": rand_id(rng, "stat_"), "label": lab, "type": typ, "pipeline_id": pid,
                      "organization_id": oid}
                org.opportunity_statuses.append(st)
                ss.append({"id": st["id"], "label": lab, "type": typ})
            creator = org.users[0]["id"]
            org.pipelines.append({"id": pid, "name": pname, "organization_id": oid, "statuses": ss,
                                   "created_by": creator, "updated_by": creator, "date_created": fmt_naive(pc),
                                   "date_updated": fmt_naive(pc + rng.randrange(0, 90 * DAY))})
        org.pipeline_by_id = {p["id"]: p for p in org.pipelines}

    def _gen_custom_fields(self) -> None:
        """Per-organisation definitions: which fields exist, their ids and names depend on the seed."""
        org = self.org
        rng = org._rng("custom_fields")
        org.custom_fields: dict[str, list[dict]] = {k: [] for k in CUSTOM_FIELD_OBJECTS}
        lo, hi = START_US + DAY, START_US + 300 * DAY
        for obj, pool, k in (("lead", LEAD_FIELD_POOL, (6, 10)), ("contact", CONTACT_FIELD_POOL, (3, 6)),
                             ("opportunity", OPPORTUNITY_FIELD_POOL, (3, 6))):
            for name, typ, multi, choices, desc in rng.sample(pool, rng.randint(*k)):
                if rng.random() < 0.25:
                    name = f"{name} ({rng.choice(['EU', 'US', 'Legacy', 'New', '2022'])})"
                org.custom_fields[obj].append(org.builder.custom_field_def(rng, name, typ, multi, choices, desc,
                                                                           pick_between(rng, lo, hi)))
        # custom activity types and their fields
        org.custom_activity_types = []
        for tname, tdesc, fields in rng.sample(ACTIVITY_TYPE_POOL, rng.randint(2, 3)):
            tc = pick_between(rng, lo, hi)
            tid = rand_id(rng, "actitype_", 22)
            creator = org.builder.user_ref(rng)["id"]
            field_refs = []
            for fname, ftyp, fmulti, fchoices in fields:
                d = org.builder.custom_field_def(rng, fname, ftyp, fmulti, fchoices, None, tc + rng.randrange(0, HOUR),
                                                 custom_activity_type_id=tid, required=rng.random() < 0.2)
                org.custom_fields["activity"].append(d)
                field_refs.append({"id": d["id"], "name": fname, "type": ftyp, "description": None,
                                   "required": d["required"], "accepts_multiple_values": fmulti,
                                   "editable_with_roles": [], "is_shared": False,
                                   "referenced_custom_type_id": None, "back_reference_is_visible": None,
                                   "converting_to_type": None})
            org.custom_activity_types.append({
                "id": tid, "name": tname, "description": tdesc, "api_create_only": rng.random() < 0.3,
                "editable_with_roles": [], "fields": field_refs, "organization_id": org.organization_id,
                "created_by": creator, "updated_by": creator, "date_created": fmt_naive(tc + rng.randrange(0, 1000)),
                "date_updated": fmt_naive(later(rng, tc, org.anchor_us, 0.3) + rng.randrange(0, 1000))})
        for name, typ, multi, choices in rng.sample(SHARED_FIELD_POOL, rng.randint(1, 3)):
            objs = rng.sample(["lead", "contact", "opportunity"], rng.randint(1, 3))
            d = org.builder.custom_field_def(rng, name, typ, multi, choices, None, pick_between(rng, lo, hi))
            d["is_shared"] = True
            d["associations"] = [{"object_type": o, "required": False, "editable_with_roles": [],
                                  "custom_activity_type_id": None, "custom_object_type_id": None}
                                 for o in sorted(objs)]
            org.custom_fields["shared"].append(d)

    def _gen_misc(self) -> None:
        org = self.org
        rng = org._rng("misc")
        oid, cfg = org.organization_id, org.cfg
        lo, hi = START_US + 5 * DAY, org.anchor_us - DAY

        def creator_pair():
            u = org.builder.user_ref(rng)
            return u["id"], u["id"]

        org.email_templates = []
        for i in range(cfg["templates"]):
            tc = pick_between(rng, lo, hi)
            cb, ub = creator_pair()
            subj = rng.choice(EMAIL_SUBJECTS).format(company="{{ lead.display_name }}", first="{{ contact.first_name }}",
                                                     n=rng.randrange(1000, 9999))
            org.email_templates.append({
                "id": rand_id(rng, "tmpl_"), "name": f"{rng.choice(['Intro', 'Follow-up', 'Proposal', 'Renewal', 'Nurture'])} #{i + 1}",
                "subject": subj, "body": "<p>Hi {{ contact.first_name }},</p><p>" + rng.choice(NOTES).format(
                    first="{{ contact.first_name }}", q=2, n=5) + "</p>",
                "attachments": [], "is_shared": rng.random() < 0.6, "is_archived": rng.random() < 0.15,
                "organization_id": oid, "created_by": cb, "updated_by": ub, "date_created": fmt_tz_ms(tc),
                "date_updated": fmt_tz_ms(later(rng, tc, org.anchor_us))})
        org.sequences = []
        for i in range(cfg["sequences"]):
            sc = pick_between(rng, lo, hi) + rng.randrange(0, 1000)
            cb, ub = creator_pair()
            steps = []
            for s in range(rng.randint(2, 5)):
                kind = rng.choice(["email", "email", "call", "sms"])
                steps.append({"id": rand_id(rng, "seqstep_", 22), "step_type": kind, "delay": s * 86400 * rng.randint(1, 3),
                              "step_allowed_delay": None,
                              "email_template_id": rng.choice(org.email_templates)["id"] if kind == "email" else None,
                              "sms_template_id": rand_id(rng, "smstmpl_", 22) if kind == "sms" else None,
                              "required": rng.random() < 0.3, "threading": "old_thread" if s else "new_thread",
                              "created_by_id": cb, "updated_by_id": ub, "date_created": fmt_naive(sc),
                              "date_updated": fmt_naive(sc)})
            org.sequences.append({
                "id": rand_id(rng, "seq_", 22), "name": f"{rng.choice(['Outbound', 'Trial', 'Webinar', 'Win-back'])} sequence {i + 1}",
                "status": rng.choice(["active", "active", "paused", "draft"]), "schedule_id": rand_id(rng, "sched_", 22),
                "timezone": rng.choice(["America/New_York", "Europe/Prague", "UTC"]),
                "allow_manual_enrollment": rng.random() < 0.7, "trigger_query": None, "steps": steps,
                "created_by_id": cb, "updated_by_id": ub, "organization_id": oid, "date_created": fmt_naive(sc),
                "date_updated": fmt_naive(later(rng, sc, org.anchor_us) + rng.randrange(0, 1000))})
        org.saved_searches = []
        for i in range(cfg["saved_searches"]):
            vc = pick_between(rng, lo, hi)
            u = org.builder.user_ref(rng)
            typ = rng.choice(["lead", "lead", "contact", "opportunity", "call", "email"])
            shared = rng.random() < 0.5
            org.saved_searches.append({
                "id": rand_id(rng, "save_"), "name": f"{rng.choice(['Hot', 'Stale', 'New', 'My', 'EMEA'])} {typ}s {i + 1}",
                "type": typ, "query": None if rng.random() < 0.6 else f'status:"{org.lead_statuses[0]["label"]}"',
                "s_query": {"query": {"type": "and", "queries": [{"type": "object_type", "object_type": typ}]},
                            "sort": [], "results_limit": None},
                "is_shared": shared, "is_user_dependent": False, "user_id": u["id"], "organization_id": oid,
                "description": None, "selected_fields": [], "shared_with": [],
                "sharing_settings": None, "date_created": fmt_tz_ms(vc),
                "date_updated": fmt_tz_ms(later(rng, vc, org.anchor_us))})
        org.dialer_sessions = []
        for _ in range(cfg["dialers"]):
            dc = pick_between(rng, lo, hi) + rng.randrange(0, 1000)
            u = org.builder.user_ref(rng)
            org.dialer_sessions.append({
                "id": rand_id(rng, "dial_", 22), "type": rng.choice(["power", "predictive"]), "status": "inactive",
                "source_type": "saved-search", "source_value": rng.choice(org.saved_searches)["id"],
                "target_type": "lead", "ring_mode": rng.choice(["single", "parallel"]), "music_preference": None,
                "caller_id": None, "is_user_dependent": False, "visibility_mode": "all",
                "user_id": u["id"], "users": [{"user_id": u["id"], "is_active": False, "state": "inactive"}],
                "organization_id": oid, "date_created": fmt_naive(dc), "date_updated": fmt_naive(dc + rng.randrange(0, 4 * HOUR))})
        org.integration_links = []
        for name, url, typ in (("Google", "https://google.com/search?q={{ lead.display_name }}", "lead"),
                               ("LinkedIn", "https://www.linkedin.com/search/results/all/?keywords={{ contact.name }}", "contact"),
                               ("Billing", "https://billing.example.com/deals/{{ opportunity.id }}", "opportunity")):
            ic = pick_between(rng, lo, hi)
            cb, ub = creator_pair()
            org.integration_links.append({"id": rand_id(rng, "ilink_"), "name": name, "url": url, "type": typ,
                                           "organization_id": oid, "created_by": cb, "updated_by": ub,
                                           "date_created": fmt_tz_ms(ic), "date_updated": fmt_tz_ms(later(rng, ic, org.anchor_us))})
        org.send_as = []
        for u in org.users[1:4]:
            org.send_as.append({"id": rand_id(rng, "sendas_", 22), "organization_id": oid,
                                 "allowing_user_id": org.me["id"], "allowed_user_id": u["id"]})
        org.connected_accounts = []
        for i, u in enumerate(org.users[: max(3, min(len(org.users), 6))]):
            for typ in (CONNECTED_ACCOUNT_TYPES[i % 3],) if i >= 3 else (CONNECTED_ACCOUNT_TYPES[i],):
                org.connected_accounts.append(self._connected_account(rng, typ, u))
        org.connected_accounts.sort(key=lambda a: (a["date_created"], a["id"]))
        org._email_account_id = org.connected_accounts[0]["id"]
        org.bulk_actions = {}
        for kind, prefix in BULK_KINDS.items():
            out = []
            for _ in range(cfg["bulk"]):
                bc = pick_between(rng, lo, hi)
                cb, ub = creator_pair()
                n = rng.randint(1, 400)
                status = rng.choice(["done", "done", "done", "error", "paused"])
                rec = {"id": rand_id(rng, prefix), "status": status,
                       "query": rng.choice(["*", "", f'lead_status:"{org.lead_statuses[0]["label"]}"']),
                       "s_query": {"query": {"type": "and", "queries": [{"type": "object_type", "object_type": "lead"}]}},
                       "sort": [], "results_limit": None, "n_objects": n,
                       "n_objects_processed": n if status == "done" else rng.randint(0, n),
                       "n_leads": n, "n_leads_processed": n if status == "done" else 0,
                       "send_done_email": rng.random() < 0.5, "organization_id": oid, "created_by": cb,
                       "updated_by": ub, "date_created": fmt_tz_ms(bc), "date_updated": fmt_tz_ms(bc + rng.randrange(0, HOUR) // 1000 * 1000)}
                if kind == "email":
                    rec.update({"template_id": rng.choice(org.email_templates)["id"], "contact_preference": "lead",
                                "email_account_id": org.connected_accounts[0]["id"],
                                "sender": f'"{org.me["first_name"]}" <{org.me["email"]}>'})
                elif kind == "sequence_subscription":
                    rec.update({"action_type": rng.choice(["subscribe", "pause", "resume"]),
                                "sequence_id": rng.choice(org.sequences)["id"], "sender_account_id": org.connected_accounts[0]["id"],
                                "sender_name": org.me["first_name"], "sender_email": org.me["email"],
                                "from_phone_number_id": None, "calls_assigned_to": [], "contact_preference": "contact"})
                elif kind == "delete":
                    rec["bulk_object_type"] = rng.choice(["lead", "contact", "call"])
                else:
                    rec.update({"type": rng.choice(["set_custom_field", "clear_custom_field", "set_lead_status"]),
                                "custom_field_name": rng.choice(org.custom_fields["lead"])["name"],
                                "custom_field_value": "x", "lead_status_id": org.lead_statuses[0]["id"]})
                out.append(rec)
            out.sort(key=lambda r: (r["date_created"], r["id"]))
            org.bulk_actions[kind] = out

    def _connected_account(self, rng: random.Random, typ: str, user: dict) -> dict:
        org = self.org
        cc = pick_between(rng, START_US + 2 * DAY, org.anchor_us - 2 * DAY)
        email = user["email"]
        custom = typ == "custom_email"
        server = lambda kind: {"host": f"{kind}.mailhost.example.com", "port": 993 if kind == "imap" else 587,
                               "username": email, "use_ssl": True, "date_updated": fmt_tz_ms(cc)}
        features = {"google": ["calendar_syncing", "email_sending", "email_syncing"],
                    "custom_email": ["email_sending", "email_syncing"], "zoom": []}[typ]
        return {"id": rand_id(rng, "emailacct_"), "_type": typ, "user_id": user["id"],
                "organization_id": org.organization_id, "email": email,
                "identities": [{"name": f'{user["first_name"]} {user["last_name"]}', "email": email}],
                "default_identity": {"name": f'{user["first_name"]} {user["last_name"]}', "email": email},
                "smtp": server("smtp") if custom else None, "imap": server("imap") if custom else None,
                "available_features": features, "enabled_features": features[: rng.randint(0, len(features))],
                "available_calendars": [
                    {"id": email, "name": email, "status": "ok", "default": True, "synced": True},
                    {"id": f"{user['id'][5:17].lower()}@group.calendar.google.com", "name": "Team", "status": "ok",
                     "default": False, "synced": False},
                ] if typ == "google" else [],
                "synced_calendars": [email] if typ == "google" else [],
                "sync_all_calendars": typ == "google", "send_status": "ok" if typ != "zoom" else None,
                "receive_status": "ok" if typ != "zoom" else None,
                "email_receive_status": rng.choice(["ok", "ok", "error"]) if typ != "zoom" else None,
                "calendar_receive_status": "ok" if typ == "google" else None, "latest_send_error": None,
                "latest_receive_error": None, "receive_attempts_count": rng.randint(0, 5),
                "is_imap_archive_sync_enabled": custom, "lead_suggestions_updated_at": None,
                "zoom_account_plan": rng.choice(["basic", "pro"]) if typ == "zoom" else None,
                "has_meeting_creation_scopes": typ == "zoom", "calendly": None, "date_created": fmt_tz_ms(cc)}
