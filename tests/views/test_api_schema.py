"""The API against its own OpenAPI document: schemathesis generates requests from the document (valid ones, and
invalid ones the API must refuse) and sends them to a live server; every answer must conform to the document and none
may be a server error. Bounded: a fixed number of examples per operation (about a minute on 2 cores; the time is
printed, not asserted)."""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from matches.services import api_tokens
from tests.factories import DomainFactory, MatchGroupFactory, MatchRunFactory, ProfileFactory, UserFactory

POSITIVE_EXAMPLES = 20
NEGATIVE_EXAMPLES = 8


def excluded(operation) -> list:
    """A decision the schema allows can still be refused for this group (400 InvalidDecision: the main profile is
    not a member): positive-data acceptance cannot know the group, so it is left out for the writes only."""
    if operation.method.upper() == "POST":
        return [positive_data_acceptance]
    return []


@pytest.fixture
def desk(transactional_db):
    """A small desk to explore: a domain with a run, open groups with profiles, and an admin's token."""
    from matches import roles

    domain = DomainFactory(name="demo")
    run = MatchRunFactory(domain=domain)
    for score in (0.99, 0.8, 0.3):
        group = MatchGroupFactory(run=run, confidence_score=score)
        for pid in group.profile_ids:
            ProfileFactory(domain=domain, profile_id=pid)
    admin = UserFactory(username="fuzz-admin", roles=[roles.ADMIN])
    _, secret = api_tokens.token_create(actor=admin, name="schemathesis")
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.slow
def test_every_answer_conforms_to_the_openapi_document_and_none_is_a_server_error(live_server, desk, client):
    schema = schemathesis.openapi.from_dict(client.get("/api/v1/openapi.json").json())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    started = time.monotonic()
    failures: list[str] = []
    sent = 0

    for operation in operations:
        for mode, examples in (
            (GenerationMode.POSITIVE, POSITIVE_EXAMPLES),
            (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES),
        ):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def explore(case):
                nonlocal sent
                sent += 1
                case.call_and_validate(
                    base_url=live_server.url, headers=desk, timeout=10, excluded_checks=excluded(case.operation)
                )

            try:
                explore()
            except Exception as exc:  # collect them all: one report names every operation that broke
                failures.append(f"{operation.label} ({mode.value}): {exc}")

    took = time.monotonic() - started
    assert not failures, "\n\n".join(failures)
    assert sent >= len(operations) * 5, sent
    # Bounded by the example count, not by a clock: a timed assertion fails on a busy machine, not on a slow API.
    print(f"schemathesis: {sent} requests over {len(operations)} operations in {took:.1f} s")
