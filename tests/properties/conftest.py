"""The property suite's settings profiles and the small world every request runs against.

Profiles (choose with HYPOTHESIS_PROFILE): `ci`, the default, is derandomized (the same examples on every run, so main
stays green or red for a reason) with a fixed budget; `explore` draws fresh random examples, more of them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, settings

from matches.models import MatchGroup, MergeJob, QuarantinedMatch
from tests.factories import DomainFactory, MatchGroupFactory, MatchRunFactory, ProfileFactory, hex_id

# The example budget per property test in CI: 48 endpoint tests x CI_EXAMPLES requests, plus the reported inputs.
CI_EXAMPLES = 60
_COMMON = {
    "deadline": None,  # a request can take a while on a loaded 2-core machine; the budget bounds the run instead
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    "database": None,  # no .hypothesis/ directory in the work tree
    "print_blob": True,
}
settings.register_profile("ci", derandomize=True, max_examples=CI_EXAMPLES, **_COMMON)
settings.register_profile("explore", max_examples=200, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROLES = ("steward", "admin", "auditor", "outsider", "anonymous")


@dataclass(repr=False)
class World:
    clients: dict[str, Client]
    users: dict[str, object]
    # Values that reach past "not found": existing objects' names and ids, and the words views expect.
    names: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    profile_ids: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    policy_id: str = ""  # the demo domain's policy in force (bulk decisions must name it)

    def __repr__(self) -> str:
        return f"World(names={self.names}, ids={self.ids})"

    def _repr_pretty_(self, printer, cycle) -> None:  # Hypothesis prints failing examples with this
        printer.text(repr(self))


def _world_data(steward, admin) -> dict[str, list[str]]:
    from matches.services.bulk import bulk_job_create
    from matches.services.decisions import comment_add, group_merge_approve, group_reject
    from matches.services.groups import bins_add
    from matches.services.qa import qa_sample_draw

    domain = DomainFactory(name="demo")
    # A domain saved before regions were checked: Test connection and pulls must still answer with a reason.
    legacy = DomainFactory(name="legacy-region", region="<b>eu</b>")
    run = MatchRunFactory(domain=domain)
    scores = [0.99, 0.97, 0.96, 0.8, 0.7, 0.3, 0.2, 0.1]
    groups = []
    for i, score in enumerate(scores):
        ids = sorted(hex_id(5000 + 10 * i + k) for k in range(2 + i % 3))
        groups.append(MatchGroupFactory(run=run, confidence_score=score, profile_ids=ids, size=len(ids)))
        for pid in ids:
            ProfileFactory(domain=domain, profile_id=pid, attributes={"FirstName": "Ann", "EmailAddress": "a@b.c"})
    bins_add(run=run, scores=scores)
    approved = group_merge_approve(group=groups[0], actor=steward, main_profile_id=groups[0].profile_ids[0])
    MergeJob.objects.filter(decision=approved).update(not_before=timezone.now() + timedelta(hours=1))
    rejected = group_reject(group=groups[-1], actor=steward, reason="different people")
    comment_add(group=groups[3], actor=steward, body="looks alike")
    qa_sample_draw(actor=admin, domain=domain, queue="merge", rate=0.5, seed=7)
    bulk = bulk_job_create(
        actor=admin, domain=domain, queue="reject", policy_id=domain.policy().pk, group_ids=[groups[-2].pk]
    )
    item = QuarantinedMatch.objects.create(run=run, raw={"MatchId": "<b>x</b>"}, raw_hash="0" * 64, reason="bad")
    ids = {
        *(g.pk for g in groups),
        approved.pk,
        rejected.pk,
        approved.merge_job.pk,
        bulk.pk,
        item.pk,
        run.pk,
        steward.pk,
        admin.pk,
        domain.policy().pk,
    }
    return {
        "names": [domain.name, legacy.name],
        "ids": sorted(str(i) for i in ids),
        "profile_ids": sorted({p for g in groups for p in g.profile_ids}),
        "policy_id": str(domain.policy().pk),
    }


WORDS = [
    "{policy}",
    *MatchGroup.Status.values,
    *MergeJob.Status.values,
    "merge",
    "review",
    "reject",
    "split",
    "skip",
    "carried",
    "selected",
    "all",
    "run",
    "confirm",
    "on",
    "1",
    "0",
    "2",
    "0.9",
    "0.5",
    "asc",
    "desc",
    "Steward",
    "Admin",
    "Auditor",
    "us-east-1",
    "https://example.com",
    "decision.",
    "2026-01-01",
]


@pytest.fixture
def world(steward, admin, auditor, outsider) -> World:
    users = {"steward": steward, "admin": admin, "auditor": auditor, "outsider": outsider}
    clients = {"anonymous": Client()}
    for role, user in users.items():
        clients[role] = Client()
        clients[role].force_login(user)
    data = _world_data(steward, admin)
    return World(clients=clients, users=users, words=WORDS, **data)
