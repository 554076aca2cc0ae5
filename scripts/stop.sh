#!/usr/bin/env bash
# Stop what `make demo` started: every process with a pid file in var/run (the emulator, the mailbox, the identity
# provider `oidc`, the webhook receiver `webhooks`, moto's S3 server, and web, worker and beat). Web, worker and beat
# run under scripts/supervise.py: SIGTERM to the supervisor stops its process (Celery finishes the task at hand,
# SIGKILL after 25 s) and then the supervisor itself, so wait for that.
cd "$(dirname "$0")/.."
for pidfile in var/run/*.pid; do
  [ -e "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 350); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    echo "stopped $(basename "$pidfile" .pid)"
  fi
  rm -f "$pidfile"
done
