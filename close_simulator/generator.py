"""Deterministic building blocks of the simulated organisation.

Timestamps are handled internally as integer microseconds since the Unix epoch (UTC) and only turned
into strings when a record is built, in the format Close uses for that resource.
Record builders take an explicit ``random.Random`` so that the same (seed, scale, anchor) always yields
the same bytes; nothing here touches the global random state or ``hash()`` of strings.
"""

from __future__ import annotations

import random
import re
from bisect import bisect_right
from datetime import datetime, timedelta, timezone
from typing import Any

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1)
SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # ASCII order = digit order
URLSAFE = ALNUM + "-_"
_B62 = {c: i for i, c in enumerate(ALNUM)}


# --------------------------------------------------------------------------------------------- time


def us_from_datetime(dt: datetime) -> int:
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    delta = dt - EPOCH
    return (delta.days * 86400 + delta.seconds) * SECOND + delta.microseconds


def _naive(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


_DAY_STR: dict[int, str] = {}


def _split(us: int) -> tuple[str, int, int, int, int]:
    days, rem = divmod(us, DAY)
    day = _DAY_STR.get(days)
    if day is None:
        day = _DAY_STR[days] = (EPOCH + timedelta(days=days)).date().isoformat()
    sec, frac = divmod(rem, SECOND)
    h, sec = divmod(sec, 3600)
    m, sec = divmod(sec, 60)
    return day, h, m, sec, frac


def fmt_tz_ms(us: int) -> str:
    """Classic objects: ``2021-07-13T11:39:05.012000+00:00``."""
    day, h, m, s, frac = _split(us)
    return f"{day}T{h:02d}:{m:02d}:{s:02d}.{frac:06d}+00:00"


def fmt_tz_auto(us: int) -> str:
    """Synced emails: whole-second values come without a fraction (``...T21:29:12+00:00``)."""
    day, h, m, s, frac = _split(us)
    if frac == 0:
        return f"{day}T{h:02d}:{m:02d}:{s:02d}+00:00"
    return f"{day}T{h:02d}:{m:02d}:{s:02d}.{frac:06d}+00:00"


def fmt_naive(us: int) -> str:
    """Newer services and the event log: naive ``2022-11-08T12:07:06.184401``."""
    day, h, m, s, frac = _split(us)
    return f"{day}T{h:02d}:{m:02d}:{s:02d}.{frac:06d}"


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def fmt_rfc2822(us: int, offset_minutes: int) -> str:
    """An email's Date header: RFC 2822 in the sender's zone, whole seconds (``Sat, 18 Sep 2021 08:29:12 +1100``)."""
    local = datetime(1970, 1, 1) + timedelta(microseconds=us, minutes=offset_minutes)
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return (f"{_DAYS[local.weekday()]}, {local.day:02d} {_MONTHS[local.month - 1]} {local.year} "
            f"{local:%H:%M:%S} {sign}{hours:02d}{minutes:02d}")


def fmt_date(us: int) -> str:
    return _split(us)[0]


_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)


def parse_instant(value: Any) -> int | None:
    """Any timestamp Close emits or a client sends (date-only, naive = UTC, ``Z``, offsets) -> us."""
    if not isinstance(value, str):
        return None
    m = _ISO_RE.match(value.strip())
    if not m:
        return None
    y, mo, d, hh, mm, ss, frac, tz = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0))
    except ValueError:
        return None
    us = us_from_datetime(dt)
    if frac:
        us += int((frac + "000000")[:6])
    if tz and tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = int(digits[:2]) * HOUR + (int(digits[2:4]) * MINUTE if len(digits) >= 4 else 0)
        us -= sign * offset
    return us


def month_start_us(year: int, month: int) -> int:
    return us_from_datetime(datetime(year, month, 1))


def months_between(start_us: int, end_us: int) -> list[int]:
    """Midnights of the 1st of every month strictly inside (start, end)."""
    d = _naive(start_us)
    y, m = d.year, d.month
    out = []
    while True:
        m += 1
        if m == 13:
            y, m = y + 1, 1
        t = month_start_us(y, m)
        if t >= end_us:
            return out
        out.append(t)


# ---------------------------------------------------------------------------------------------- ids


def rand_chars(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    if alphabet is ALNUM:
        return b62(rng.getrandbits(6 * n), n)  # one big draw instead of n small ones
    return "".join(rng.choices(alphabet, k=n))


def rand_id(rng: random.Random, prefix: str, n: int = 43) -> str:
    return prefix + rand_chars(rng, n)


_PAIRS = [a + b for a in ALNUM for b in ALNUM]


def b62(number: int, width: int) -> str:
    """Fixed-width base62 (most significant first); ids built this way sort like their numbers."""
    chars = []
    if width % 2:
        number, r = divmod(number, 62)
        chars.append(ALNUM[r])
    for _ in range(width // 2):
        number, r = divmod(number, 3844)
        chars.append(_PAIRS[r])
    return "".join(reversed(chars))


def unb62(text: str) -> int | None:
    n = 0
    for c in text:
        v = _B62.get(c)
        if v is None:
            return None
        n = n * 62 + v
    return n


_M64 = 0xFFFFFFFFFFFFFFFF


def mix64(*parts: int) -> int:
    """A cheap, well-spread 64-bit hash of integers (splitmix64 finaliser), stable across runs."""
    x = 0x9E3779B97F4A7C15
    for p in parts:
        x = ((x ^ (p & _M64)) + 0x9E3779B97F4A7C15) & _M64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
        x ^= x >> 31
    return x


def mix2(salt: int, i: int) -> int:
    """``mix64`` specialised for the hot (salt, index) case."""
    x = ((salt ^ i) + 0x9E3779B97F4A7C15 * (i + 1)) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


class FastRng:
    """A small splitmix64 generator with the slice of ``random.Random``'s API the builders use.

    Reseeding costs nothing (unlike Mersenne Twister), which matters when every derived activity
    gets its own stream of numbers."""

    __slots__ = ("x",)

    def __init__(self, seed: int = 0):
        self.x = seed & _M64

    def seed(self, seed: int) -> None:
        self.x = seed & _M64

    def _next(self) -> int:
        x = self.x = (self.x + 0x9E3779B97F4A7C15) & _M64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
        return x ^ (x >> 31)

    def random(self) -> float:
        return (self._next() >> 11) * (1.0 / 9007199254740992.0)

    def randrange(self, a: int, b: int | None = None) -> int:
        if b is None:
            a, b = 0, a
        return a + self._next() % (b - a)

    def randint(self, a: int, b: int) -> int:
        return a + self._next() % (b - a + 1)

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.random()

    def choice(self, seq):
        return seq[self._next() % len(seq)]

    def choices(self, seq, k: int = 1) -> list:
        n = len(seq)
        return [seq[self._next() % n] for _ in range(k)]

    def sample(self, seq, k: int) -> list:
        pool = list(seq)
        return [pool.pop(self._next() % len(pool)) for _ in range(k)]

    def getrandbits(self, k: int) -> int:
        out, have = 0, 0
        while have < k:
            out = (out << 64) | self._next()
            have += 64
        return out >> (have - k)


def make_times(rng: random.Random, n: int, start_us: int, end_us: int,
               bursts: list[tuple[int, int]], whole_second_share: float = 0.0) -> list[int]:
    """``n`` sorted timestamps in [start, end): bursts of identical instants plus a growing trickle.

    Density increases over time (young accounts are quieter), values have millisecond precision, and a
    share of them may be rounded to the whole second (synced emails)."""
    n_burst = sum(size for _, size in bursts)
    m = max(0, n - n_burst)
    span = end_us - start_us - 2000
    out = []
    for j in range(m):
        x = (j + rng.random()) / m
        t = start_us + 1000 + int(span * (x ** 0.75)) // 1000 * 1000
        if whole_second_share and rng.random() < whole_second_share:
            t = max(start_us, t // SECOND * SECOND)
        out.append(t)
    for instant, size in bursts:
        out.extend([instant] * size)
    out.sort()
    return out


# -------------------------------------------------------------------------------------------- pools

FIRST_NAMES = (
    "Ava Liam Noah Emma Olivia Mason Sofia Lucas Mia Ethan Amelia Logan Harper Jacob Evelyn Elijah "
    "Abigail James Emily Benjamin Ella Henry Grace Daniel Chloe Samuel Nora Leo Hannah Owen Zoe Ryan "
    "Layla Nathan Aria Caleb Priya Kenji Fatima Mateo Ingrid Tomasz Aisha Diego Yuki Lars Chiara"
).split()
LAST_NAMES = (
    "Smith Johnson Brown Garcia Miller Davis Rodriguez Martinez Lopez Wilson Anderson Thomas Taylor "
    "Moore Jackson Martin Lee Thompson White Harris Clark Lewis Robinson Walker Young Allen King Wright "
    "Scott Nguyen Hill Green Adams Baker Nelson Carter Mitchell Perez Roberts Turner Phillips Novak "
    "Schmidt Rossi Tanaka Kowalski Okafor Lindqvist"
).split()
COMPANY_A = (
    "Acme Blue Bright Cedar Clear Copper Crest Delta Echo Evergreen Falcon Granite Harbor Horizon Iron "
    "Juniper Keystone Lakeside Lumen Maple Meridian Nimbus North Oak Orbit Pioneer Quantum Redwood "
    "Silver Summit Swift Tidal Union Vertex Willow Zenith"
).split()
COMPANY_B = (
    "Analytics Logistics Software Systems Foods Health Robotics Energy Media Capital Dental Motors "
    "Labs Studios Networks Outfitters Builders Consulting Solar Pharma Realty Bakery Textiles"
).split()
COMPANY_SUFFIX = ("Inc", "LLC", "Ltd", "GmbH", "Co", "Group", "", "", "")
PLACES = (
    ("San Francisco", "CA", "94107", "US"), ("Austin", "TX", "78701", "US"),
    ("New York", "NY", "10001", "US"), ("Chicago", "IL", "60601", "US"),
    ("Denver", "CO", "80202", "US"), ("Seattle", "WA", "98101", "US"),
    ("Boston", "MA", "02108", "US"), ("Toronto", "ON", "M5H 2N2", "CA"),
    ("London", "", "EC1A 1BB", "GB"), ("Berlin", "", "10115", "DE"),
    ("Prague", "", "110 00", "CZ"), ("Sydney", "NSW", "2000", "AU"),
)
STREETS = ("Market St", "Main St", "Oak Ave", "Pine St", "Elm Rd", "Harbor Blvd", "King St", "Hauptstrasse")
TITLES = ("CEO", "CTO", "VP Sales", "Head of Operations", "Office Manager", "Buyer", "Founder",
          "Marketing Director", "Engineer", "Procurement Lead", None)
EMAIL_SUBJECTS = (
    "Quick question about {company}", "Following up on our call", "Proposal for {company}",
    "Re: pricing", "Intro: {first} <> Close", "Demo recording and next steps", "Contract draft",
    "Re: onboarding schedule", "Checking in", "Your trial ends soon", "Invoice #{n}",
    "Meeting notes", "Re: integration questions", "Updated quote", "Welcome aboard!",
)
EMAIL_BODIES = (
    "Hi {first},\n\nThanks for taking the time today. As discussed, I'm attaching the overview.\n\nBest,\n{sender}",
    "Hello {first},\n\nJust following up on my previous email. Do you have 15 minutes this week?\n\n{sender}",
    "Hi {first},\n\nGreat news - the team approved the pilot. Let's pick a start date.\n\nCheers,\n{sender}",
    "Hey {first},\n\nCould you share the current headcount so I can finalise the quote?\n\nThanks,\n{sender}",
    "Hi {first},\n\nPlease find the signed contract attached.\n\nKind regards,\n{sender}",
)
NOTES = (
    "Spoke with {first}; budget approved for Q{q}.", "Left a voicemail, will try again Tuesday.",
    "Customer asked about SSO and audit logs.", "Sent pricing sheet. Decision expected next month.",
    "Champion changed roles; need a new contact.", "Met at the trade show, interested in the API.",
    "Renewal discussed, asked for a 10% discount.", "Onboarding completed, team of {n} users.",
)
SMS_TEXTS = (
    "Hi {first}, are we still on for tomorrow?", "Thanks! Talk soon.", "Can you call me back?",
    "Sent you the proposal by email.", "Running 5 min late, sorry!", "Yes, Thursday works.",
)
TASK_TEXTS = (
    "Follow up with {first}", "Send proposal", "Call back about pricing", "Prepare demo",
    "Check contract status", "Schedule onboarding", "Ask for referral", "Confirm renewal",
)
MEETING_TITLES = ("Discovery call", "Product demo", "Quarterly review", "Onboarding kickoff",
                  "Pricing discussion", "Technical deep dive")
INDUSTRIES = ["Software", "Manufacturing", "Healthcare", "Retail", "Finance", "Education", "Logistics"]

# (name, type, accepts_multiple_values, choices, description)
LEAD_FIELD_POOL = (
    ("Industry", "choices", False, INDUSTRIES, "Primary industry of the account"),
    ("Lead Source", "choices", False, ["Inbound", "Outbound", "Referral", "Event", "Partner"], None),
    ("Annual Revenue", "number", False, None, "Yearly revenue in USD"),
    ("Employees", "number", False, None, None),
    ("Founded", "date", False, None, None),
    ("Account Owner", "user", False, None, "Who owns the relationship"),
    ("Next Renewal", "date", False, None, None),
    ("Last Demo At", "datetime", False, None, None),
    ("Tags", "choices", True, ["VIP", "Churn Risk", "Upsell", "Partner", "Beta"], None),
    ("Primary Contact", "contact", False, None, None),
    ("Region", "text", False, None, None),
    ("Internal Notes", "textarea", False, None, "Free-form notes"),
    ("Legacy CRM Id", "hidden", False, None, None),
    ("Competitors", "text", True, None, None),
    ("Partner Managers", "user", True, None, None),
)
CONTACT_FIELD_POOL = (
    ("Role", "choices", True, ["Gatekeeper", "Point of Contact", "Decision Maker", "Champion", "Influencer"], None),
    ("LinkedIn", "text", False, None, None),
    ("Birthday", "date", False, None, None),
    ("Preferred Language", "choices", False, ["English", "German", "Spanish", "French", "Czech"], None),
    ("Opted In At", "datetime", False, None, None),
    ("NPS", "number", False, None, "Last NPS answer"),
    ("Contact Owner", "user", False, None, None),
    ("Interests", "choices", True, ["Reporting", "API", "Calling", "Automation"], None),
    ("Assistant", "text", False, None, None),
)
OPPORTUNITY_FIELD_POOL = (
    ("Deal Type", "choices", False, ["New Business", "Upsell", "Renewal"], None),
    ("Contract Start", "date", False, None, None),
    ("Contract Signed At", "datetime", False, None, None),
    ("Champion", "contact", False, None, None),
    ("Products", "choices", True, ["Core", "Calling", "SMS", "Reporting", "Enterprise Support"], None),
    ("Discount %", "number", False, None, "Negotiated discount"),
    ("Sales Engineer", "user", False, None, None),
    ("Loss Reason", "text", False, None, None),
    ("Seats", "number", False, None, None),
)
ACTIVITY_TYPE_POOL = (
    ("Demo Feedback", "Structured feedback after a product demo", (
        ("Rating", "number", False, None), ("Outcome", "choices", False, ["Positive", "Neutral", "Negative"]),
        ("Follow-up Date", "date", False, None), ("Summary", "textarea", False, None))),
    ("Site Visit", "On-site customer visit", (
        ("Visited At", "datetime", False, None), ("Host", "user", False, None),
        ("Attendees", "contact", True, None), ("Findings", "text", False, None))),
    ("Onboarding Step", "Progress of an onboarding project", (
        ("Step", "choices", False, ["Kickoff", "Import", "Training", "Go-live"]),
        ("Hours Spent", "number", False, None), ("Blockers", "choices", True, ["Data", "Access", "Budget"]))),
    ("Support Escalation", "Escalated support case", (
        ("Severity", "choices", False, ["Low", "Medium", "High", "Critical"]),
        ("Ticket", "text", False, None), ("Resolved On", "date", False, None))),
)
SHARED_FIELD_POOL = (
    ("Customer Tier", "choices", False, ["Bronze", "Silver", "Gold", "Platinum"]),
    ("Data Source", "text", False, None),
    ("Compliance Checked", "date", False, None),
    ("Health Score", "number", False, None),
    ("Territories", "choices", True, ["NA", "EMEA", "APAC", "LATAM"]),
)

ROLE_PERMISSIONS = ("bulk_delete", "bulk_edit", "bulk_email", "bulk_import", "calling", "delete_leads",
                    "export", "manage_customizations", "merge_leads", "view_all_leads", "bulk_sequence")


def company_name(rng: random.Random) -> str:
    parts = [rng.choice(COMPANY_A), rng.choice(COMPANY_B), rng.choice(COMPANY_SUFFIX)]
    return " ".join(p for p in parts if p)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower()) or "example"


def money_formatted(cents: int | None, currency: str = "USD") -> str | None:
    if cents is None:
        return None
    dollars, rem = divmod(cents, 100)
    return f"${dollars:,}" if rem == 0 else f"${dollars:,}.{rem:02d}"


def pick_between(rng: random.Random, lo_us: int, hi_us: int) -> int:
    """A millisecond-precision instant in [lo, hi) (hi > lo)."""
    if hi_us <= lo_us + 1000:
        return lo_us
    return lo_us + rng.randrange(0, (hi_us - lo_us) // 1000) * 1000


def later(rng: random.Random, created_us: int, anchor_us: int, share_touched: float = 0.5,
          max_days: int = 240) -> int:
    """A plausible date_updated: often seconds after creation, sometimes weeks later, never >= anchor."""
    roll = rng.random()
    if roll < 1 - share_touched:
        delta = rng.randrange(0, 90_000) * 1000  # within 90 s
    else:
        delta = rng.randrange(0, max_days * 86_400_000) * 1000
    cap = anchor_us - 1000 - rng.randrange(0, 600_000) * 1000
    return max(created_us, min(created_us + delta, cap))


def bisect_count(sorted_times, t: int) -> int:
    return bisect_right(sorted_times, t)
