"""Reading what was sent to this worktree's Celery queue in Redis (the real broker; no worker needed)."""

import base64
import json

import pytest
import redis
from django.conf import settings


def queued_tasks(task_name: str) -> list[list]:
    """Args of each message for `task_name` waiting in the Celery queue, oldest first."""
    r = redis.Redis.from_url(settings.REDIS_URL)
    out = []
    for raw in r.lrange(settings.CELERY_TASK_DEFAULT_QUEUE, 0, -1):
        message = json.loads(raw)
        if message["headers"].get("task") != task_name:
            continue
        out.append(json.loads(base64.b64decode(message["body"]))[0])
    return out[::-1]  # LPUSHed: the oldest is last in the list


@pytest.fixture
def celery_queue():
    """The queue emptied before and after the test; call it with a task name to read what was sent."""
    r = redis.Redis.from_url(settings.REDIS_URL)
    r.delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    yield queued_tasks
    r.delete(settings.CELERY_TASK_DEFAULT_QUEUE)
