"""`manage.py pull_matches NAME` SIGKILLed during the rule-based pages resumes to exactly the rows of a pull that was
never interrupted (services/pulls/rules.py), without reading the GetMatches pages again."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from matches.models import Domain, MatchGroup, MatchRun
from matches.services.pulls import pull_domain
from tests.commands.test_pull_matches import pull_command, run_command
from tests.emulator_fixtures import generation, match, pid
from tests.factories import DomainFactory

PAIRS = 450  # 450 rule-based matches: 5 pages of 100 MatchIds
FAST = {"GetSimilarProfiles": 1000, "ListRuleBasedMatches": 1000, "GetMatches": 1000}


def make(emulator, emu) -> Domain:
    name = f"rk-{uuid.uuid4().hex[:10]}"
    people = [{"ProfileId": pid(f"k{i}{s}"), "EmailAddress": f"k{i}@example.com"} for i in range(PAIRS) for s in "ab"]
    emu.create_domain(name, profiles=people, run_job=False, rule_based={"Enabled": True})
    both = {"MatchId": "ml-both", "ProfileIds": [pid("k7a"), pid("k7b")], "ConfidenceScore": 0.9}
    emu.set_matches(name, [both, *[match(i, base=50_000 + 10 * i) for i in range(150)]], generation=generation(1))
    return DomainFactory(name=name, endpoint_url=emulator.url, rule_based_pull=True, aws_rates=FAST)


def rows(run: MatchRun) -> set[tuple]:
    fields = ("match_id", "profile_ids", "confidence_score", "source", "rule_level", "both_engines", "status")
    return {(m, tuple(p), *rest) for m, p, *rest in MatchGroup.objects.filter(run=run).values_list(*fields)}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_pull_killed_in_its_rule_pages_resumes_exactly_once(emulator, emu, command_env):
    killed, twin = make(emulator, emu), make(emulator, emu)
    emu.set_faults(latency_ms=15, operations=["GetSimilarProfiles"])

    proc = pull_command(killed.name, command_env)
    deadline = time.monotonic() + 90
    while not MatchRun.objects.filter(domain=killed, rule_pages__gte=1).exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no rule-based checkpoint was committed in time"
        time.sleep(0.05)
    time.sleep(0.3)  # mid-page: some GetSimilarProfiles calls of the next page made, none of them stored
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    interrupted = MatchRun.objects.get(domain=killed)
    assert interrupted.status == "running" and 1 <= interrupted.rule_pages < 5 and interrupted.rule_next_token
    assert interrupted.pages == 2 and not interrupted.next_token  # the GetMatches pages were all stored

    emu.clear_faults()
    emu.clear_calls()
    resumed = run_command(killed.name, command_env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"run {interrupted.pk} completed (resumed)" in resumed.stdout
    assert emu.calls("GetMatches") == []
    listed = emu.calls("ListRuleBasedMatches")
    assert listed[0]["params"]["NextToken"] == interrupted.rule_next_token

    reference = pull_domain(domain=twin)
    run = MatchRun.objects.get(domain=killed)
    theirs = MatchRun.objects.get(pk=reference.run_id)
    # The same profile sets in both domains: the same match ids, rule-based ones included (a hash of the set).
    assert rows(run) == rows(theirs) and len(rows(run)) == 151 + PAIRS - 1
    assert (run.status, run.restarts, run.rule_groups_stored, run.rule_next_token) == ("completed", 0, PAIRS, "")
