"""The request id follows work into Celery: a task queued while a request is served carries its id in the message
headers, and the worker's log lines for that task carry it too (docs/architecture.md, "Operations")."""

from __future__ import annotations

from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun

from matches.observability.logs import request_id

HEADER = "matchdesk_request_id"


@before_task_publish.connect(dispatch_uid="matchdesk-request-id-publish")
def _publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    rid = request_id.get()
    if rid and headers is not None:
        headers.setdefault(HEADER, rid)


@task_prerun.connect(dispatch_uid="matchdesk-request-id-prerun")
def _prerun(task: Any = None, **_: Any) -> None:
    rid = getattr(task.request, HEADER, None) if task is not None else None
    request_id.set(rid if isinstance(rid, str) else "")


@task_postrun.connect(dispatch_uid="matchdesk-request-id-postrun")
def _postrun(**_: Any) -> None:
    request_id.set("")
