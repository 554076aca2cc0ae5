"""How audit rows link to what they concern: a merge job's row links to its group, not to the job's id as a group."""

from matches.audit_display import event_links
from matches.models import AuditEvent


def test_a_merge_job_event_links_to_the_group_named_in_its_details_not_to_the_job_id():
    event = AuditEvent(action="merge.succeeded", object_type="merge_job", object_id="7", details={"group_id": 42})
    links = event_links(event)
    assert links["group_id"] == 42
    assert links["group"] == "/groups/42/"
    assert links["group_history"] == "/groups/42/history/"


def test_a_group_event_links_to_that_group():
    links = event_links(AuditEvent(action="decision.reject", object_type="group", object_id="5", details={}))
    assert (links["group_id"], links["group_history"]) == (5, "/groups/5/history/")


def test_an_event_about_no_group_links_to_none():
    links = event_links(AuditEvent(action="merges.paused", object_type="domain", object_id="3", details={}))
    assert links["group"] is None and links["group_id"] is None and links["group_history"] is None
