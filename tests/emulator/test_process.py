"""`python -m emulator serve` as a real child process: URL handshake, state file across restarts, SIGKILL."""

from __future__ import annotations

import json
import subprocess
import sys

from emulator.testing import PACKAGE_PARENT, EmulatorControl, EmulatorProcess, boto_client


def test_serve_prints_url_and_answers_boto(tmp_path):
    with EmulatorProcess(seed=7, domains=["demo"], customers=80) as proc:
        assert proc.url.startswith("http://127.0.0.1:")
        client = boto_client(proc.url)
        assert [d["DomainName"] for d in client.list_domains()["Items"]] == ["demo"]
        assert client.get_matches(DomainName="demo", MaxResults=5)["Matches"]
    assert proc.proc is not None and proc.proc.returncode == 0


def test_state_survives_a_restart(tmp_path):
    state = tmp_path / "state.json"
    with EmulatorProcess(seed=7, domains=["demo"], customers=80, state_file=state) as proc:
        client, ctl = boto_client(proc.url), EmulatorControl(proc.url)
        group = client.get_matches(DomainName="demo", MaxResults=1)["Matches"][0]
        main, *rest = group["ProfileIds"]
        client.merge_profiles(DomainName="demo", MainProfileId=main, ProfileIdsToBeMerged=rest)
        ctl.run_job("demo")
        before = client.get_matches(DomainName="demo", MaxResults=100)
        jobs_before = client.list_identity_resolution_jobs(DomainName="demo")["IdentityResolutionJobsList"]
    assert state.exists()
    # Different seed and size on the command line: the saved domain must win over regeneration.
    with EmulatorProcess(seed=99, domains=["demo"], customers=10, state_file=state) as proc:
        client, ctl = boto_client(proc.url), EmulatorControl(proc.url)
        after = client.get_matches(DomainName="demo", MaxResults=100)
        assert after["MatchGenerationDate"] == before["MatchGenerationDate"]
        assert after["Matches"] == before["Matches"]
        assert client.list_identity_resolution_jobs(DomainName="demo")["IdentityResolutionJobsList"] == jobs_before
        assert ctl.get_profile("demo", rest[0]) is None
        assert ctl.get_profile("demo", main) is not None
        assert ctl.truth("demo")["groups"] == after["PotentialMatches"]


def test_save_call_writes_state_that_survives_sigkill(tmp_path):
    state = tmp_path / "state.json"
    proc = EmulatorProcess(state_file=state).start()
    try:
        ctl = EmulatorControl(proc.url)
        ctl.create_domain("saved", run_job=False, profiles=[{"ProfileId": "a" * 32, "FirstName": "Kept"}])
        assert ctl.save()["ok"] is True
        ctl.create_domain("unsaved", run_job=False, profiles=[])
        proc.kill()
    finally:
        proc.stop()
    assert [d["name"] for d in json.loads(state.read_text())["domains"]] == ["saved"]
    with EmulatorProcess(state_file=state) as again:
        ctl = EmulatorControl(again.url)
        assert ctl.get_profile("saved", "a" * 32)["FirstName"] == "Kept"
        names = [d["DomainName"] for d in boto_client(again.url).list_domains()["Items"]]
        assert names == ["saved"]


def test_bulk_state_survives_a_restart(tmp_path):
    state = tmp_path / "state.json"
    with EmulatorProcess(seed=3, domains=["big"], bulk_groups=500, state_file=state) as proc:
        client = boto_client(proc.url)
        first = client.get_matches(DomainName="big", MaxResults=3)["Matches"]
        client.merge_profiles(
            DomainName="big", MainProfileId=first[0]["ProfileIds"][0], ProfileIdsToBeMerged=first[0]["ProfileIds"][1:]
        )
        EmulatorControl(proc.url).run_job("big")
        before = client.get_matches(DomainName="big", MaxResults=100)
    assert state.stat().st_size < 100_000  # the groups are regenerated from the seed, not stored
    with EmulatorProcess(seed=3, domains=["big"], bulk_groups=500, state_file=state) as proc:
        client = boto_client(proc.url)
        after = client.get_matches(DomainName="big", MaxResults=100)
        assert after["Matches"] == before["Matches"] and after["PotentialMatches"] == 499


def test_report_command_prints_cutoffs():
    out = subprocess.run(
        [sys.executable, "-m", "emulator", "report", "--seed", "7", "--customers", "120", "--json"],
        capture_output=True,
        text=True,
        cwd=PACKAGE_PARENT,
        check=True,
        timeout=120,
    )
    report = json.loads(out.stdout)
    assert [c["score"] for c in report["cutoffs"]] == [0.5, 0.7, 0.8, 0.9, 0.95]


def test_thread_server_saves_state_on_stop(tmp_path):
    from emulator.testing import EmulatorThread

    state = tmp_path / "state.json"
    with EmulatorThread(seed=2, domains=["t"], customers=30, state_file=state) as srv:
        groups = len(srv.emulator.domains["t"].matches)
    with EmulatorThread(state_file=state) as srv:
        assert len(srv.emulator.domains["t"].matches) == groups > 0
