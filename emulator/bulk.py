"""Bulk domains: up to millions of match groups held in flat arrays, profiles made on demand.

A group is an index; its size, score and truth live in compact arrays. A profile id encodes its group
and member (with a keyed hash in front so ids look random and cannot be guessed), so BatchGetProfile
can rebuild a profile from the id alone, deterministically, without storing it.
"""

from __future__ import annotations

import hashlib
import random
from array import array
from typing import Any

from emulator.generator import Generator, Person

SIZES = (2, 3, 4, 5)
SIZE_WEIGHTS = (0.7, 0.2, 0.07, 0.03)
TRUE_SHARE = 0.85
SCENARIOS = ("default", "linkage")
# The linkage scenario: like a record-linkage benchmark after blocking. True matches score 0.3-1.0 (most of them high),
# non-matches 0.0-0.65 (most of them low); the two overlap in 0.3-0.65. With the default 0.95 / 0.60 about half the
# groups wait in review and about a sixth of the reject queue are real duplicates.
LINKAGE_NONMATCH_SHARE = 0.35
LINKAGE_GROUPS_PER_CUSTOMER = 0.375  # 5,000 customers give about 1,875 candidate groups


def linkage_score(rng: random.Random, is_true: bool) -> float:
    if is_true:
        return round(0.3 + 0.7 * rng.betavariate(3.0, 1.2), 6)
    return round(0.65 * rng.betavariate(2.0, 2.0), 6)


def _tag(seed: int, group: int, member: int) -> str:
    return hashlib.blake2b(f"{seed}:{group}:{member}".encode(), digest_size=8).hexdigest()


class BulkGroups:
    """Immutable generated groups; merges and deletions are tracked by the domain."""

    def __init__(self, seed: int, count: int, scenario: str = "default", nonmatch_share: float | None = None) -> None:
        if count >= 16**12:
            raise ValueError("too many groups")
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}: one of {', '.join(SCENARIOS)}")
        linkage = scenario == "linkage"
        if nonmatch_share is not None and not 0 <= nonmatch_share <= 1:
            raise ValueError("nonmatch_share must be between 0 and 1")
        self.seed = seed
        self.count = count
        self.scenario = scenario
        self.nonmatch_share = nonmatch_share
        if nonmatch_share is None:
            true_share = 1 - LINKAGE_NONMATCH_SHARE if linkage else TRUE_SHARE
        else:
            true_share = 1 - nonmatch_share
        self.sizes = bytearray(count)
        self.scores = array("f", bytes(4 * count))
        self.true = bytearray(count)
        rng = random.Random(seed)
        cum = [sum(SIZE_WEIGHTS[: i + 1]) for i in range(len(SIZES))]
        rand = rng.random
        gauss = rng.gauss
        for g in range(count):
            r = rand()
            self.sizes[g] = SIZES[0] if r < cum[0] else SIZES[1] if r < cum[1] else SIZES[2] if r < cum[2] else SIZES[3]
            is_true = rand() < true_share
            self.true[g] = is_true
            if linkage:
                self.scores[g] = linkage_score(rng, is_true)
                continue
            # True groups mostly score high, false ones mostly middling, with overlap in 0.6-0.9.
            score = gauss(0.88, 0.09) if is_true else gauss(0.62, 0.14)
            self.scores[g] = min(1.0, max(0.05, score))

    def profile_id(self, group: int, member: int) -> str:
        return f"{_tag(self.seed, group, member)}{group:012x}{member:04x}"

    def locate(self, profile_id: str) -> tuple[int, int] | None:
        if len(profile_id) != 32:
            return None
        try:
            group, member = int(profile_id[16:28], 16), int(profile_id[28:], 16)
        except ValueError:
            return None
        if group >= self.count or member >= self.sizes[group] or profile_id[:16] != _tag(self.seed, group, member):
            return None
        return group, member

    def member_ids(self, group: int) -> list[str]:
        return [self.profile_id(group, m) for m in range(self.sizes[group])]

    def make_profile(self, generator: Generator, group: int, member: int) -> dict[str, Any]:
        rng = random.Random(self.seed * 1_000_003 + group)
        person = generator.person(rng, f"g{group}")
        people: list[Person] = [person]
        if not self.true[group]:
            people += [generator.lookalike(rng, person, f"g{group}-{m}") for m in range(1, self.sizes[group])]
        base = generator.profile(rng, person)
        if self.true[group]:
            prof = (
                base
                if member == 0
                else generator.duplicate(random.Random(f"{self.seed}:{group}:{member}"), person, base)
            )
        else:
            prof = generator.profile(random.Random(f"{self.seed}:{group}:{member}"), people[member])
        return {"ProfileId": self.profile_id(group, member), **prof}

    def customer_of(self, group: int, member: int) -> str:
        return f"g{group}" if self.true[group] else f"g{group}-{member}"
