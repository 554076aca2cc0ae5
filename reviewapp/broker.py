"""The Redis broker transport, with one fix: a worker survives Redis going away while it holds unacknowledged messages.

Celery 5.7.0 handles a lost broker connection in `Consumer.on_connection_error_after_connected` by calling
`connection.collect()` and then `connection.close()`. `collect()` detaches the transport (`transport.client = None`);
when the first close of the task channel was cut short by the dead socket (the pending BRPOP read raises before the
channel is marked closed, which happens whenever another socket, gossip's or the control channel's, notices the outage
first), the second `close()` closes that channel again, its QoS tries to restore the unacknowledged messages
("Restoring 26 unacknowledged message(s)"), the channel rebuilds its connection pool from `transport.client`, and
kombu's `_connparams` raises `AttributeError: 'NoneType' object has no attribute 'hostname'`. That is not a connection
error, so `ignore_errors` lets it through and the worker stops with "Unrecoverable error".

Here a detached transport raises the connection error it really is: the close is then ignored like any other broken
connection, the worker reconnects, and the messages it could not restore stay in Redis' unacked hash, from which the
next consumer restores them after the visibility timeout (merge jobs do not wait for that: the periodic sweep runs every
due job from Postgres). Selected with `CELERY_BROKER_TRANSPORT`; tests/faults/test_worker_survives_redis.py reproduces
the crash with kombu's own transport and proves this one survives.
"""

from __future__ import annotations

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict:
        if self.connection is None or self.connection.client is None:
            raise redis.exceptions.ConnectionError("the broker connection was already closed after an outage")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
