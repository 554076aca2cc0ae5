"""axe-core (npm, pinned in package.json; scripts/ensure_axe.sh installs it) on every page of the site, as the least
privileged role that sees it, in real Chromium: no serious or critical WCAG 2.1 A/AA violation.

Pages are found by the URL resolver walk (tests/e2e/site_pages.py), so a new or renamed page is checked without
editing this file. Known failures are listed with what axe found; the test fails when a page outside the list has
a violation AND when a listed page has none any more (remove it from the list: it is fixed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.site_pages import site_pages
from tests.site_world import site_data

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SERIOUS = ("serious", "critical")

# Page (route) -> the rules axe reports there (none now). The first runs found colour contrast on tags, the review
# tint and the thresholds' empty bands; links told apart by colour alone on breadcrumbs, the QA status and the runs
# list; a bulk job's progress bar without a name; the run page's scrolling <pre> out of keyboard reach: all fixed.
# A page that starts failing is listed here only with a reason and an issue.
KNOWN_VIOLATIONS: dict[str, set[str]] = {}

RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + ": " + (n.failureSummary || "").split("\\n")[1])
  }));
}"""


def serious_violations(page) -> list[dict]:
    page.add_script_tag(content=AXE.read_text())
    return [v for v in page.evaluate(RUN_AXE, TAGS) if v["impact"] in SERIOUS]


def _line(v: dict) -> str:
    return f"{v['impact']} {v['id']}: {v['help']} -- {'; '.join(v['nodes'])}"


def _rules(violations: list[dict]) -> set[str]:
    return {v["id"] for v in violations}


@pytest.fixture
def axe_pages(steward, auditor, admin):
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run scripts/ensure_axe.sh (npm ci)")
    data = site_data(steward=steward, admin=admin)
    return site_pages(data=data, users={"steward": steward, "auditor": auditor, "admin": admin})


def test_no_page_has_a_serious_or_critical_accessibility_violation(
    browser, live_server, axe_pages, steward, auditor, admin
):
    from tests.conftest import PASSWORD

    print("pages:", ", ".join(f"{p.id} as {p.role}" for p in axe_pages))
    assert len(axe_pages) >= 15, [p.id for p in axe_pages]  # the walk found the site, not just the login page
    users = {"steward": steward, "auditor": auditor, "admin": admin}
    contexts = {}
    found: dict[str, list[dict]] = {}
    try:
        for site_page in axe_pages:
            if site_page.role not in contexts:
                # axe is injected as a script: this context alone bypasses the Content-Security-Policy to allow it.
                context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
                tab = context.new_page()
                tab.set_default_timeout(15_000)
                if site_page.role != "anonymous":
                    tab.goto(f"{live_server.url}/login/")
                    tab.fill("input[name=username]", users[site_page.role].get_username())
                    tab.fill("input[name=password]", PASSWORD)
                    tab.click("button[type=submit]")
                    tab.wait_for_url(f"{live_server.url}/")
                contexts[site_page.role] = (context, tab)
            tab = contexts[site_page.role][1]
            tab.goto(f"{live_server.url}{site_page.path}")
            tab.wait_for_load_state("networkidle")
            violations = serious_violations(tab)
            if violations:
                found[site_page.id] = violations
    finally:
        for context, _ in contexts.values():
            context.close()

    report = {pid: [_line(v) for v in vs] for pid, vs in found.items()}
    new = {pid: lines for pid, lines in report.items() if _rules(found[pid]) - KNOWN_VIOLATIONS.get(pid, set())}
    fixed = sorted(
        f"{pid}: {rule}" for pid, rules in KNOWN_VIOLATIONS.items() for rule in rules - _rules(found.get(pid, []))
    )
    assert not new, "axe-core found serious or critical violations:\n" + "\n".join(
        f"{pid}:\n  " + "\n  ".join(lines) for pid, lines in new.items()
    )
    assert not fixed, f"These pages pass now: remove them from KNOWN_VIOLATIONS: {fixed}"
