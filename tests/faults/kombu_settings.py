"""The deployment settings with kombu's own Redis transport, for the reproduction of the worker crash that
reviewapp/broker.py fixes (tests/faults/test_worker_survives_redis.py). Never used outside that test."""

from reviewapp.settings import *  # noqa: F403

CELERY_BROKER_TRANSPORT = "redis"
