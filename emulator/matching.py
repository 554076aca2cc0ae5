"""A stand-in for the Identity Resolution Job: blocking, pair scoring, connected components.

It is deliberately an imperfect model: shared household or company phones and namesakes pull
different people together, and typos plus missing fields push duplicates apart, so scores of true
and false groups overlap the way a real model's do. Noise is a stable hash of the pair, so the
same profiles score the same on every run.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import phonenumbers
from rapidfuzz import fuzz

from emulator.generator import NICKNAMES

EMAIL_FIELDS = ("EmailAddress", "PersonalEmailAddress", "BusinessEmailAddress")
PHONE_FIELDS = ("PhoneNumber", "MobilePhoneNumber", "HomePhoneNumber", "BusinessPhoneNumber")
LINK_THRESHOLD = 0.35
MAX_BLOCK = 40  # a phone shared by a whole call centre says nothing; AWS skips such keys too

_NICK_TO_FORMAL = {
    nick.lower(): formal.lower() for table in NICKNAMES.values() for formal, nicks in table.items() for nick in nicks
}


@dataclass(frozen=True)
class Group:
    profile_ids: tuple[str, ...]
    score: float


@dataclass
class _Keys:
    emails: set[str]
    phones: set[str]
    business_phones: set[str]
    first: str
    last: str
    full: str
    birth: str | None
    address: str
    postal: str


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9 ]+", "", text.lower()).strip()


def normalise_email(value: str) -> str:
    return value.strip().lower()


def normalise_phone(value: str, country: str | None) -> str:
    try:
        num = phonenumbers.parse(value, country or "US")
        return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        return re.sub(r"\D", "", value)


def _keys(profile: dict[str, Any]) -> _Keys:
    addr = profile.get("Address") or {}
    country = addr.get("Country") if isinstance(addr, dict) else None
    phones = {normalise_phone(profile[f], country) for f in PHONE_FIELDS[:3] if isinstance(profile.get(f), str)}
    business = {normalise_phone(profile[f], country) for f in PHONE_FIELDS[3:] if isinstance(profile.get(f), str)}
    first = _fold(str(profile.get("FirstName") or ""))
    last = _fold(str(profile.get("LastName") or ""))
    first = _NICK_TO_FORMAL.get(first, first)
    return _Keys(
        emails={normalise_email(profile[f]) for f in EMAIL_FIELDS if isinstance(profile.get(f), str)},
        phones=phones,
        business_phones=business - phones,
        first=first,
        last=last,
        full=f"{first} {last}".strip(),
        birth=profile.get("BirthDate") if isinstance(profile.get("BirthDate"), str) else None,
        address=_fold(str(addr.get("Address1", ""))) if isinstance(addr, dict) else "",
        postal=_fold(str(addr.get("PostalCode", ""))) if isinstance(addr, dict) else "",
    )


def _blocks(keys: dict[str, _Keys]) -> Iterable[list[str]]:
    index: dict[str, list[str]] = defaultdict(list)
    for pid, k in keys.items():
        for e in k.emails:
            index["e:" + e].append(pid)
        for p in k.phones | k.business_phones:
            index["p:" + p].append(pid)
        if k.last and k.first:
            index[f"n:{k.last}:{k.first[:1]}"].append(pid)
            index[f"f:{k.first}:{k.last[:2]}"].append(pid)
    for members in index.values():
        if 1 < len(members) <= MAX_BLOCK:
            yield members


def _noise(seed: int, a: str, b: str) -> float:
    digest = hashlib.blake2b(f"{seed}:{min(a, b)}:{max(a, b)}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big")).gauss(0.0, 0.55)


def pair_score(a: _Keys, b: _Keys, noise: float = 0.0) -> float:
    name = fuzz.token_sort_ratio(a.full, b.full) / 100 if a.full and b.full else 0.5
    first = fuzz.ratio(a.first, b.first) / 100 if a.first and b.first else 0.5
    z = -3.6
    z += 3.2 if a.emails & b.emails else 0.0
    z += 2.2 if a.phones & b.phones else 0.0
    z += 0.9 if a.business_phones & b.business_phones else 0.0
    z += 5.0 * (name - 0.75)
    z += 1.2 * (first - 0.7)
    if a.birth and b.birth:
        z += 1.3 if a.birth == b.birth else -1.6
    if a.address and b.address:
        z += 1.0 * (fuzz.ratio(a.address, b.address) / 100 - 0.5) + (0.4 if a.postal == b.postal else 0.0)
    return 1.0 / (1.0 + math.exp(-(z + noise)))


def resolve(profiles: dict[str, dict[str, Any]], seed: int = 0) -> list[Group]:
    """Match groups (two or more profiles) with a confidence score, sorted by their first profile id."""
    keys = {pid: _keys(p) for pid, p in profiles.items() if isinstance(p, dict)}
    edges: dict[tuple[str, str], float] = {}
    for members in _blocks(keys):
        for a, b in combinations(sorted(members), 2):
            if (a, b) not in edges:
                edges[(a, b)] = pair_score(keys[a], keys[b], _noise(seed, a, b))
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    linked = {pair: s for pair, s in edges.items() if s >= LINK_THRESHOLD}
    for a, b in linked:
        parent[find(a)] = find(b)
    components: dict[str, list[str]] = defaultdict(list)
    for pid in parent:
        components[find(pid)].append(pid)
    groups = []
    for members in components.values():
        members.sort()
        # Weakest link: a group is only as sure as its least-supported member.
        best = {m: 0.0 for m in members}
        for (a, b), s in linked.items():
            if a in best and b in best:
                best[a] = max(best[a], s)
                best[b] = max(best[b], s)
        score = min(best.values())
        if len(members) > 2:
            score *= 0.97 ** (len(members) - 2)
        groups.append(Group(profile_ids=tuple(members), score=round(score, 6)))
    groups.sort(key=lambda g: g.profile_ids[0])
    return groups
