"""The property suite's settings profiles and the small world every request runs against.

Profiles (choose with HYPOTHESIS_PROFILE): `ci`, the default, is derandomized (the same examples on every run, so main
stays green or red for a reason) with a fixed budget; `explore` draws fresh random examples, more of them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest
from django.test import Client
from hypothesis import HealthCheck, settings

from tests.site_world import WORDS, site_data

# The example budget per property test in CI: one test per route (72 on main now) x CI_EXAMPLES requests, plus the
# reported inputs and their neighbourhood: about 3,000 requests, under 3 minutes.
CI_EXAMPLES = 40
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


@pytest.fixture
def world(steward, admin, auditor, outsider) -> World:
    users = {"steward": steward, "admin": admin, "auditor": auditor, "outsider": outsider}
    clients = {"anonymous": Client()}
    for role, user in users.items():
        clients[role] = Client()
        clients[role].force_login(user)
    data = site_data(steward=steward, admin=admin)
    return World(clients=clients, users=users, words=WORDS, **data)
