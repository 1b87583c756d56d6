"""Mutations: every change a test or benchmark makes, dated with the clock and shown the way Close shows it.

``Mutations(org).apply(change)`` (``Organization.mutate``) moves ``date_updated`` and writes the event Close's event
log would hold; a change Close's log cannot show is refused. ``add_listed`` adds records Close makes outside the
API (settings made in its UI, entries of the event log).
"""

from __future__ import annotations

import random

from .generator import fmt_tz_ms, parse_instant, rand_id
from .models import (
    ACTIVITY_EVENT_ACTIONS, ACTIVITY_EVENT_TYPES, ACTIVITY_TYPE_NAMES, CUSTOM_FIELD_OBJECTS, TASK_TYPES,
    ActivityStore, Table,
)
from .truth import STREAM_SPECS


class Mutations:
    """Changes of one organisation (``org``); see ``apply``."""

    def __init__(self, org):
        self.org = org
        self.custom_fields = CustomFieldChanges(self)

    def apply(self, change: dict) -> dict:
        """Apply one change; return ``{"records": [...as now stored...], "events": [...written...]}``.

        Forms (``fields`` always optional; ids or ``count`` pick the targets):

        - ``{"action": "create", "object_type": "lead"|"contact"|"opportunity"|"activity"|"task"|"custom_field"
          |"custom_object", "subtype": <activity kind e.g. "email", "call", "status_change/lead", "custom"; task
          _type; custom field object "lead"|"contact"|"opportunity"|"activity"|"shared">, "count": N, "fields": {...}}``
          (contacts/opportunities/activities/tasks/custom objects go to ``fields["lead_id"]`` or a random lead)
        - ``{"action": "update", "object_type": ..., "id": "<id>" | "count": N, "subtype": ..., "fields": {...}}``
        - ``{"action": "delete", "object_type": ..., "id": "<id>" | "count": N, "subtype": ...}``
        - ``{"action": "merge", "object_type": "lead", "source": "<lead id>", "destination": "<lead id>"}``
          (``POST lead/merge/``; either id may be left out: a random lead, distinct from the other)

        Creates and updates are dated with the clock (after the anchor); every change writes
        created/updated/deleted events. Deleting a lead deletes its contacts, opportunities, tasks, custom
        objects and activities (one deleted event each, but none for the activities Close logs nothing for).
        Changing a contact, opportunity or task bumps its lead's ``date_updated``. An update or delete of an
        activity whose change Close's event log cannot show (``ACTIVITY_EVENT_ACTIONS``) is refused. A merge
        moves everything of the source lead to the destination (see ``_merge``). Raises ``ValueError`` for an
        unknown form or id and for a refused change.
        """
        org = self.org
        action = change.get("action")
        otype = change.get("object_type")
        if action not in ("create", "update", "delete", "merge"):
            raise ValueError(f"unknown action {action!r}")
        if otype not in ("lead", "contact", "opportunity", "activity", "task", "custom_field", "custom_object"):
            raise ValueError(f"unknown object_type {otype!r}")
        if action == "merge" and otype != "lead":
            raise ValueError(f"only leads are merged, not {otype!r}")
        org._mutations += 1
        org.version += 1
        rng = random.Random(f"close-sim:{org.seed}:mutation:{org._mutations}")
        now = org.now_us()
        out = {"records": [], "events": []}
        fields = dict(change.get("fields") or {})
        count = int(change.get("count", 1) or 1)
        subtype = change.get("subtype")
        if action == "merge":
            out["records"] = self._merge(rng, change.get("source"), change.get("destination"), now, out["events"])
        elif action == "create":
            for _ in range(count):
                out["records"].append(self._create(rng, otype, subtype, fields, now, out["events"]))
        else:
            targets = [change["id"]] if change.get("id") else self._pick_targets(rng, otype, subtype, count)
            for rid in targets:
                if action == "update":
                    out["records"].append(self._update(rng, otype, rid, fields, now, out["events"]))
                else:
                    out["records"].append(self._delete(rng, otype, rid, now, out["events"]))
        return out

    def _pick_targets(self, rng, otype, subtype, count) -> list[str]:
        org = self.org
        if otype == "activity":
            store = org.activity_stores.get(subtype or "email")
            if store is None:
                raise ValueError(f"unknown activity subtype {subtype!r}")
            ids = []
            tries = 0
            while len(ids) < count and tries < count * 50:
                tries += 1
                i = rng.randrange(store.n)
                if i not in store.deleted and store.id_of(i) not in ids:
                    ids.append(store.id_of(i))
            return ids
        if otype == "custom_object":
            return rng.sample(sorted(org.workspace.custom_objects.records), count)
        if otype == "custom_field":
            pool = org.custom_fields.get(subtype or "lead", [])
            return [d["id"] for d in rng.sample(pool, min(count, len(pool)))]
        table = self._table(otype)
        if otype == "task" and subtype:
            pool = [rid for _, rid in table.index.get((subtype, "date_created"), [])]
        else:
            pool = list(table.records)
        pool.sort()
        return rng.sample(pool, min(count, len(pool)))

    def _table(self, otype: str) -> Table:
        org = self.org
        return {"lead": org.leads, "contact": org.contacts, "opportunity": org.opportunities,
                "task": org.tasks}[otype]

    def emit(self, rng, events_out, at, action, otype, oid, lead_id, data, prev=None, changed=None, path="",
             meta: dict | None = None):
        """Log one change; ``meta`` adds to (or overrides) the request the change came from."""
        org = self.org
        if otype is None:  # an object Close logs no events for
            return
        method = {"created": "POST", "updated": "PUT", "deleted": "DELETE", "merged": "POST"}[action]
        ev = org.new_event(rng, at, action, otype, oid, lead_id, org.me["id"], data, prev, changed,
                           {"request_path": f"/api/v1/{path}", "request_method": method, **(meta or {})})
        ev["api_key_id"] = "api_key_" + org.api_key[4:14]
        org.log_event(ev, at)
        events_out.append(ev)

    def random_lead(self, rng) -> dict:
        org = self.org
        if not org.leads.records:
            raise ValueError("no lead left to attach to")
        ids = sorted(org.leads.records)
        return org.leads.records[rng.choice(ids)]

    def _bump_lead(self, lead_id: str | None, now: int) -> None:
        org = self.org
        rec = org.leads.get(lead_id) if lead_id else None
        if rec is None:
            return
        new = {**rec, "date_updated": fmt_tz_ms(now)}
        org.leads.replace(new, (org.leads.keys[lead_id][0], now))

    def _create(self, rng, otype, subtype, fields, now, events) -> dict:
        org = self.org
        if otype == "custom_object":
            return org.workspace.change_custom_object(rng, "create", None, fields, now, events)
        if otype == "custom_field":
            return self.custom_fields.create(rng, subtype, fields, now, events)
        if otype == "lead":
            lead = org.builder.build_lead(rng, now, now)
            lid = lead["id"]
            org.children[lid] = {"contacts": [], "opportunities": [], "tasks": []}
            contact = org.builder.build_contact(rng, lid, lead["display_name"], now, now, [])
            org.contacts.add(contact, (now, now))
            org.children[lid]["contacts"].append(contact["id"])
            org.builder.finish_lead_custom(rng, lead, [contact["id"]], now)
            lead.update({k: v for k, v in fields.items() if k not in ("id", "contacts", "opportunities", "tasks")})
            org.leads.add(lead, (now, now))
            org.lead_info[lid] = (lead["display_name"], ((contact["id"], contact["name"] or "",
                                                          contact["emails"][0]["email"] if contact["emails"] else None,
                                                          contact["phones"][0]["phone"] if contact["phones"] else None),))
            view = org.leads.view(lead)
            self.emit(rng, events, now, "created", "lead", lid, lid, view, path="lead/")
            self.emit(rng, events, now, "created", "contact", contact["id"], lid, contact, path="contact/")
            self._create_activity(rng, "created", {"lead_id": lid}, now, events)
            return view
        if otype == "activity":
            return self._create_activity(rng, subtype or "note", fields, now, events)
        lead = org.leads.get(fields["lead_id"]) if fields.get("lead_id") else self.random_lead(rng)
        if lead is None:
            raise ValueError(f"unknown lead {fields.get('lead_id')!r}")
        lid = lead["id"]
        ch = org.children[lid]
        if otype == "contact":
            rec = org.builder.build_contact(rng, lid, lead["display_name"], now, now, ch["contacts"])
            rec.update({k: v for k, v in fields.items() if k != "id"})
            org.contacts.add(rec, (now, now))
            ch["contacts"].append(rec["id"])
            path = "contact/"
        elif otype == "opportunity":
            cid = ch["contacts"][0] if ch["contacts"] else None
            rec = org.builder.build_opportunity(rng, lead, org.contacts.get(cid) if cid else None, now, now)
            rec.update({k: v for k, v in fields.items() if k != "id"})
            org.opportunities.add(rec, (now, now))
            ch["opportunities"].append(rec["id"])
            path = "opportunity/"
        else:
            typ = subtype or fields.get("_type") or "lead"
            if typ not in TASK_TYPES:
                raise ValueError(f"unknown task type {typ!r}")
            cid = ch["contacts"][0] if ch["contacts"] else None
            oid = ch["opportunities"][0] if ch["opportunities"] else None
            rec = org.builder.build_task(rng, typ, lead, org.contacts.get(cid) if cid else None, now, now,
                                         org.opportunities.get(oid) if oid else None)
            rec.update({k: v for k, v in fields.items() if k not in ("id", "_type")})
            org.tasks.add(rec, (now, now))
            ch["tasks"].append(rec["id"])
            path = "task/"
        ot = otype if otype != "task" else f"task.{rec['_type']}"
        self.emit(rng, events, now, "created", ot, rec["id"], lid, rec, path=path)
        self._bump_lead(lid, now)
        return rec

    def _create_activity(self, rng, kind, fields, now, events) -> dict:
        org = self.org
        store = org.activity_stores.get(kind)
        if store is None:
            raise ValueError(f"unknown activity subtype {kind!r}")
        lead = org.leads.get(fields["lead_id"]) if fields.get("lead_id") else self.random_lead(rng)
        if lead is None:
            raise ValueError(f"unknown lead {fields.get('lead_id')!r}")
        user = org.user_by_id.get(fields.get("user_id")) or org.builder.user_ref(rng)
        parent = None
        if kind in ("status_change/opportunity", "task_completed"):
            parent = rng.randrange(len(store.parent_ids)) if store.parent_ids else None
        rec = org.builder.build_activity(kind, rng, rand_id(rng, "acti_"), now, now, lead["id"], user, parent)
        rec.update({k: v for k, v in fields.items() if k not in ("id", "_type")})
        created = parse_instant(rec.get("date_created")) or now
        if store.n and created < store.times[store.n - 1]:
            # Close takes one (an imported call, say); this simulator lists created activities after the others.
            raise ValueError(f"a created {kind} activity may not be dated before the newest generated one")
        store.created.add(rec, (created,))
        self.emit(rng, events, now, "created", ACTIVITY_EVENT_TYPES[kind], rec["id"], lead["id"], rec,
                  path=f"activity/{kind}/")
        return rec

    def _locate_activity(self, rid: str) -> tuple[ActivityStore, int | None, dict]:
        org = self.org
        for store in org.activity_stores.values():
            if rid in store.created.records:
                return store, None, store.created.records[rid]
            i = store.index_of(rid)
            if i is not None and i not in store.deleted:
                return store, i, store.record(i)
        raise ValueError(f"unknown activity {rid!r}")

    def _update(self, rng, otype, rid, fields, now, events, meta: dict | None = None) -> dict:
        org = self.org
        if otype == "custom_object":
            return org.workspace.change_custom_object(rng, "update", rid, fields, now, events)
        if otype == "custom_field":
            return self.custom_fields.update(rng, rid, fields, now, events)
        if otype == "activity":
            store, i, old = self._locate_activity(rid)
            self._check_logged(store.kind, "updated")
            if not fields:
                fields = {"note": "Edited after the fact"} if store.kind in ("note", "call") else {"status": old.get("status")}
            new = {**old, **{k: v for k, v in fields.items() if k not in ("id", "_type")}, "date_updated": fmt_tz_ms(now)}
            self._store_activity(store, i, new)
            changed = sorted({k for k in new if new.get(k) != old.get(k)} | {"date_updated"})
            self.emit(rng, events, now, "updated", ACTIVITY_EVENT_TYPES[store.kind], rid, new["lead_id"], new,
                      {k: old.get(k) for k in changed}, changed, f"activity/{store.kind}/{rid}/")
            return new
        table = self._table(otype)
        old = table.get(rid)
        if old is None:
            raise ValueError(f"unknown {otype} {rid!r}")
        if not fields:
            fields = {"lead": {"description": f"Updated {org._mutations}"}, "contact": {"title": f"Title {org._mutations}"},
                      "opportunity": {"confidence": (old.get("confidence", 0) + 5) % 100},
                      "task": {"is_complete": not old.get("is_complete")}}[otype]
        new = {**old, **{k: v for k, v in fields.items() if k not in ("id", "_type", "contacts", "opportunities", "tasks")},
               "date_updated": fmt_tz_ms(now)}
        self._derived_labels(otype, new, fields)
        if otype != "lead" and new.get("lead_id") not in org.children:
            raise ValueError(f"unknown lead {new.get('lead_id')!r}")
        if otype == "lead":
            names = {d["id"]: d["name"] for d in org.fields_for("lead")}
            custom = dict(new.get("custom") or {})
            for k, v in fields.items():
                if k.startswith("custom.") and k[7:] in names:
                    custom[names[k[7:]]] = v
            new["custom"] = custom
        table.replace(new, (table.keys[rid][0], now))
        changed = sorted({k for k in new if new.get(k) != old.get(k)} | {"date_updated"})
        lead_id = rid if otype == "lead" else new.get("lead_id")
        if otype != "lead" and lead_id != old.get("lead_id"):  # moved to another lead: both leads list it right
            self._move_child(otype, rid, old.get("lead_id"), lead_id, now)
        ot = otype if otype != "task" else f"task.{new['_type']}"
        data = table.view(new)
        self.emit(rng, events, now, "updated", ot, rid, lead_id, data, {k: old.get(k) for k in changed}, changed,
                   f"{otype}/{rid}/", meta)
        if otype != "lead":
            self._bump_lead(lead_id, now)
        return data

    _CHILD_LISTS = {"contact": "contacts", "opportunity": "opportunities", "task": "tasks"}

    def _move_child(self, otype: str, rid: str, old_lead: str | None, new_lead: str, now: int) -> None:
        org = self.org
        key = self._CHILD_LISTS[otype]
        old = org.children.get(old_lead)
        if old is not None:
            old[key] = [x for x in old[key] if x != rid]
            self._bump_lead(old_lead, now)
        org.children[new_lead][key].append(rid)

    @staticmethod
    def _check_logged(kind: str, action: str) -> None:
        """Refuse a change of an activity that Close's event log would not show (``ACTIVITY_EVENT_ACTIONS``)."""
        if action not in ACTIVITY_EVENT_ACTIONS[kind]:
            shown = ", ".join(ACTIVITY_EVENT_ACTIONS[kind]) or "no change"
            raise ValueError(f"{ACTIVITY_TYPE_NAMES[kind]} activities cannot be {action}: Close's event log shows "
                             f"{shown} of them, so the change would be invisible")

    @staticmethod
    def _store_activity(store: ActivityStore, i: int | None, new: dict) -> None:
        """Keep the changed activity ``new`` (``i``: its base index, None for a created one)."""
        if i is None:
            store.created.replace(new, (store.created.keys[new["id"]][0],))
        else:
            store.put(i, new)

    def _derived_labels(self, otype: str, rec: dict, fields: dict) -> None:
        """Keep denormalised labels in step with the ids a change sets (as Close does)."""
        org = self.org
        if "status_id" in fields:
            pool = org.lead_statuses if otype == "lead" else org.opportunity_statuses
            st = next((x for x in pool if x["id"] == fields["status_id"]), None)
            if st is not None:
                rec["status_label"] = st["label"]
                if otype == "opportunity":
                    rec.update({"status_display_name": st["label"], "status_type": st["type"],
                                "pipeline_id": st["pipeline_id"],
                                "pipeline_name": org.pipeline_by_id[st["pipeline_id"]]["name"]})
        if otype == "lead" and "name" in fields and "display_name" not in fields:
            rec["display_name"] = fields["name"] or ""
        if otype == "contact" and "name" in fields and "display_name" not in fields:
            rec["display_name"] = fields["name"] or ""

    def _delete(self, rng, otype, rid, now, events) -> dict:
        org = self.org
        if otype == "custom_object":
            return org.workspace.change_custom_object(rng, "delete", rid, {}, now, events)
        if otype == "custom_field":
            return self.custom_fields.delete(rng, rid, now, events)
        if otype == "activity":
            store, i, old = self._locate_activity(rid)
            self._check_logged(store.kind, "deleted")
            if i is None:
                store.created.remove(rid)
            else:
                store.updated.pop(i, None)
                store.mark_deleted(i)
            self.emit(rng, events, now, "deleted", ACTIVITY_EVENT_TYPES[store.kind], rid, old["lead_id"], None, old,
                      None, f"activity/{store.kind}/{rid}/")
            return old
        table = self._table(otype)
        if rid not in table.records:
            raise ValueError(f"unknown {otype} {rid!r}")
        if otype == "lead":
            return self._delete_lead(rng, rid, now, events)
        old = table.view(table.records[rid])
        table.remove(rid)
        lead_id = old.get("lead_id")
        ch = org.children.get(lead_id)
        if ch:
            key = {"contact": "contacts", "opportunity": "opportunities", "task": "tasks"}[otype]
            ch[key] = [x for x in ch[key] if x != rid]
        ot = otype if otype != "task" else f"task.{old['_type']}"
        self.emit(rng, events, now, "deleted", ot, rid, lead_id, None, old, None, f"{otype}/{rid}/")
        self._bump_lead(lead_id, now)
        return old

    def _delete_lead(self, rng, lid, now, events) -> dict:
        """The lead and everything on it, one deleted event each (none for activities Close logs nothing for)."""
        org = self.org
        old = org.leads.view(org.leads.records[lid])
        ch = org.children.pop(lid)
        path = f"lead/{lid}/"
        for cid in ch["contacts"]:
            if cid in org.contacts.records:
                self.emit(rng, events, now, "deleted", "contact", cid, lid, None, org.contacts.remove(cid), None, path)
        for oid in ch["opportunities"]:
            if oid in org.opportunities.records:
                self.emit(rng, events, now, "deleted", "opportunity", oid, lid, None, org.opportunities.remove(oid),
                          None, path)
        for tid in ch["tasks"]:
            if tid in org.tasks.records:
                t = org.tasks.remove(tid)
                self.emit(rng, events, now, "deleted", f"task.{t['_type']}", tid, lid, None, t, None, path)
        objects = org.workspace.custom_objects
        for rid in sorted(r for r, rec in objects.records.items() if rec["lead_id"] == lid):
            self.emit(rng, events, now, "deleted", "custom_object", rid, lid, None, objects.remove(rid), None, path)
        for kind, store in org.activity_stores.items():
            for i in store.lead_index().get(lid, ()):
                if i in store.deleted:
                    continue
                prev = store.record(i)
                store.updated.pop(i, None)
                store.mark_deleted(i)
                self.emit(rng, events, now, "deleted", ACTIVITY_EVENT_TYPES[kind], prev["id"], lid, None, prev, None,
                          path)
            for rid in [r for r, rec in store.created.records.items() if rec["lead_id"] == lid]:
                prev = store.created.remove(rid)
                self.emit(rng, events, now, "deleted", ACTIVITY_EVENT_TYPES[kind], rid, lid, None, prev, None, path)
        org.leads.remove(lid)
        self.emit(rng, events, now, "deleted", "lead", lid, lid, None, old, None, path)
        return old

    def _merge(self, rng, source: str | None, destination: str | None, now: int, events: list) -> list[dict]:
        """``POST lead/merge/``: the source lead's contacts, opportunities, tasks, custom objects and activities move
        to the destination, a lead-merge activity is made on it, and the source is removed.

        Events, all with ``merge_source_lead_id`` / ``merge_destination_lead_id`` in ``meta``: one ``updated`` per
        moved contact, opportunity, task and custom object (``lead_id``, ``date_updated``), one ``merged`` for the
        destination, one ``deleted`` for the source (none for its children, which live on). Moved activities get a
        new ``lead_id`` and ``date_updated`` but no event, and the lead-merge activity none either, as on Close.
        Returns the destination as now listed, then every moved record, then the lead-merge activity."""
        org = self.org
        leads = org.leads.records
        for given in (source, destination):
            if given is not None and given not in leads:
                raise ValueError(f"unknown lead {given!r}")
        if source is not None and source == destination:
            raise ValueError("a lead cannot be merged into itself")
        pool = sorted(set(leads) - {source, destination})
        if (source is None) + (destination is None) > len(pool):
            raise ValueError("a merge needs two leads")
        if source is None:
            source = pool.pop(rng.randrange(len(pool)))
        if destination is None:
            destination = pool.pop(rng.randrange(len(pool)))
        meta = {"request_path": "/api/v1/lead/merge/", "request_method": "POST",
                "merge_source_lead_id": source, "merge_destination_lead_id": destination}
        gone = org.leads.view(leads[source])
        before = org.leads.view(leads[destination])
        moved: list[dict] = []
        ch = org.children[source]
        for otype, key in self._CHILD_LISTS.items():
            for rid in list(ch[key]):
                if rid in self._table(otype).records:
                    moved.append(self._update(rng, otype, rid, {"lead_id": destination}, now, events, meta))
        moved += org.workspace.move_custom_objects(rng, source, destination, now, events, meta)
        stamp = fmt_tz_ms(now)
        for store in org.activity_stores.values():
            for i in list(store.lead_index().get(source, ())):
                if i not in store.deleted:
                    new = {**store.record(i), "lead_id": destination, "date_updated": stamp}
                    store.put(i, new)
                    moved.append(new)
            for rid in sorted(r for r, rec in store.created.records.items() if rec["lead_id"] == source):
                new = {**store.created.records[rid], "lead_id": destination, "date_updated": stamp}
                self._store_activity(store, None, new)
                moved.append(new)
        merge_activity = self._create_activity(
            rng, "lead_merge", {"lead_id": destination, "source_lead_id": source, "destination_lead_id": destination,
                                "merge_status": "completed"}, now, events)
        del org.children[source]
        org.leads.remove(source)
        self._bump_lead(destination, now)
        after = org.leads.view(leads[destination])
        changed = sorted({k for k in after if after.get(k) != before.get(k)} | {"date_updated"})
        self.emit(rng, events, now, "merged", "lead", destination, destination, after,
                  {k: before.get(k) for k in changed}, changed, meta=meta)
        self.emit(rng, events, now, "deleted", "lead", source, source, None, gone, meta=meta)
        return [after, *moved, merge_activity]

    def add_listed(self, stream: str, record: dict) -> dict:
        """Adds ``record``, as Close would list it, to a stream that ``mutate`` does not reach: the settings an admin
        makes in Close's UI (full-refresh lists, where a new row is its own sign of change) and entries of the event
        log (dated by their own ``date_updated``). For tests of real record shapes; returns what was stored."""
        org = self.org
        if stream not in STREAM_SPECS:
            raise ValueError(f"unknown stream {stream!r}")
        source, sel, _ = STREAM_SPECS[stream]
        record = dict(record)
        org.version += 1
        if source == "list":
            getattr(org, sel).append(record)
        elif source == "bulk":
            org.bulk_actions[sel].append(record)
        elif source == "connected":
            org.connected_accounts.append(record)
        elif source == "custom_fields":
            org.custom_fields[sel].append(record)
        elif source == "workspace" and stream != "custom_objects":
            lists = {"custom_object_custom_fields": org.workspace.custom_object_fields,
                     "shared_custom_fields": org.custom_fields["shared"]}
            target = lists[stream] if stream in lists else getattr(org.workspace, stream)
            target.append(record["email"] if stream == "unsubscribed_emails" else record)
        elif source in ("events", "deleted"):
            at = parse_instant(record["date_updated"])
            if at is None:
                raise ValueError(f"bad date_updated {record['date_updated']!r}")
            org.log_event(record, at)
        else:
            raise ValueError(f"{stream} records are made with mutate(), not added")
        return record

class CustomFieldChanges:
    """Custom field definitions made, edited and deleted (``custom_field.<object>`` events)."""

    def __init__(self, mutations: Mutations):
        self.mutations = mutations
        self.org = mutations.org

    def create(self, rng, subtype, fields, now, events) -> dict:
        org = self.org
        obj = subtype or "lead"
        if obj not in CUSTOM_FIELD_OBJECTS:
            raise ValueError(f"unknown custom field object {obj!r}")
        typ = fields.get("type", "text")
        choices = fields.get("choices") or (["A", "B", "C"] if typ == "choices" else None)
        extra = {}
        if obj == "activity":
            extra = {"custom_activity_type_id": fields.get("custom_activity_type_id", org.custom_activity_types[0]["id"]),
                     "required": False}
        d = org.builder.custom_field_def(rng, fields.get("name", f"New Field {org._mutations}"), typ,
                                         bool(fields.get("accepts_multiple_values", False)), choices,
                                         fields.get("description"), now, **extra)
        d["date_updated"] = d["date_created"]
        if obj == "shared":
            d["is_shared"] = True
            d["associations"] = [{"object_type": o, "required": False, "editable_with_roles": [],
                                  "custom_activity_type_id": None, "custom_object_type_id": None}
                                 for o in fields.get("associations", ["lead"])]
        for k, v in fields.items():
            if k in d and k not in ("id",):
                d[k] = v
        org.custom_fields[obj].append(d)
        if obj == "activity":
            for t in org.custom_activity_types:
                if t["id"] == d["custom_activity_type_id"]:
                    t["fields"] = t["fields"] + [{"id": d["id"], "name": d["name"], "type": d["type"],
                                                  "description": d["description"], "required": False,
                                                  "accepts_multiple_values": d["accepts_multiple_values"],
                                                  "editable_with_roles": [], "is_shared": False,
                                                  "referenced_custom_type_id": None,
                                                  "back_reference_is_visible": None, "converting_to_type": None}]
        self.mutations.emit(rng, events, now, "created", f"custom_field.{obj}", d["id"], None, d,
                            path=f"custom_field/{obj}/")
        return d

    def update(self, rng, rid, fields, now, events) -> dict:
        org = self.org
        for obj, defs in org.custom_fields.items():
            for n, d in enumerate(defs):
                if d["id"] == rid:
                    new = {**d, **{k: v for k, v in fields.items() if k != "id"}, "date_updated": fmt_tz_ms(now)}
                    defs[n] = new
                    changed = sorted({*fields, "date_updated"} - {"id"})
                    self.mutations.emit(rng, events, now, "updated", f"custom_field.{obj}", rid, None, new,
                                        {k: d.get(k) for k in changed}, changed, f"custom_field/{obj}/{rid}/")
                    return new
        raise ValueError(f"unknown custom field {rid!r}")

    def delete(self, rng, rid, now, events) -> dict:
        org = self.org
        for obj, defs in org.custom_fields.items():
            for n, d in enumerate(defs):
                if d["id"] == rid:
                    del defs[n]
                    self.mutations.emit(rng, events, now, "deleted", f"custom_field.{obj}", rid, None, None, d, None,
                               f"custom_field/{obj}/{rid}/")
                    return d
        raise ValueError(f"unknown custom field {rid!r}")
