#!/usr/bin/env bash
# Bring Matchdesk up on its embedded default: the emulator with demo data, a local mailbox, an OpenID provider for
# single sign-on (scripts/oidc_provider.mjs) and a webhook receiver (scripts/webhook_receiver.py), what an enterprise
# wires up; demo users, a webhook endpoint, a first pull, then web, worker and beat in the background, each under
# scripts/supervise.py, which starts it again whenever it exits (a killed worker is back within seconds; the log says
# when and why). The web runs as production runs it: gunicorn (gunicorn.conf.py) with static files collected and
# served by WhiteNoise. Logs in var/log, pids in var/run; `make stop` stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT="${PORT:-8000}"
EMULATOR_PORT="${EMULATOR_PORT:-8765}"
MAIL_PORT="${MAIL_PORT:-8025}"
OIDC_PORT="${OIDC_PORT:-8767}"
WEBHOOK_PORT="${WEBHOOK_PORT:-8768}"
DEMO_DOMAIN="${DEMO_DOMAIN:-demo}"
mkdir -p var/log var/run

bash scripts/stop.sh >/dev/null 2>&1 || true

start() {  # name, command...
  local name=$1; shift
  nohup "$@" >"var/log/$name.log" 2>&1 &
  echo $! >"var/run/$name.pid"
}
supervised() {  # name, command...: restarted whenever it exits, until `make stop`
  local name=$1; shift
  start "$name" "$PY" scripts/supervise.py "$name" -- "$@"
}
wait_http() {  # url, what
  for _ in $(seq 1 150); do
    if "$PY" - "$1" <<'PYEOF' 2>/dev/null; then return 0; fi
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=1)
PYEOF
    sleep 0.2
  done
  echo "$2 did not start; see var/log" >&2
  exit 1
}

# S3 ingestion in the demo (optional: DEMO_S3=1): moto's S3 server is the embedded default S3, the emulator writes
# the jobs of a second domain ($DEMO_DOMAIN-s3) there, and Matchdesk reads that domain's results from it.
EXPORT_ARGS=()
DEMO_DOMAINS=(--domain "$DEMO_DOMAIN")
if [ "${DEMO_S3:-0}" = "1" ]; then
  MOTO_PORT="${MOTO_PORT:-8766}"
  echo "== moto's S3 server on :$MOTO_PORT"
  start moto .venv/bin/moto_server -H 127.0.0.1 -p "$MOTO_PORT"
  wait_http "http://127.0.0.1:$MOTO_PORT/" "moto's S3 server"
  export MATCHDESK_S3_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
  EXPORT_ARGS=(--s3-endpoint-url "$MATCHDESK_S3_ENDPOINT_URL" --export-bucket matchdesk-demo-exports)
  DEMO_DOMAINS+=(--domain "$DEMO_DOMAIN-s3")
fi

echo "== emulator (Customer Profiles stand-in) on :$EMULATOR_PORT"
start emulator "$PY" -m emulator serve --host 127.0.0.1 --port "$EMULATOR_PORT" --seed 7 \
  "${DEMO_DOMAINS[@]}" --customers "${DEMO_CUSTOMERS:-600}" --state-file var/emulator-state.json "${EXPORT_ARGS[@]}"
wait_http "http://127.0.0.1:$EMULATOR_PORT/_emulator/health" "the emulator"

echo "== mailbox (SMTP on :$MAIL_PORT, a Maildir in var/mail)"
# Notifications go by email to this local mailbox (aiosmtpd): every process below reads these settings.
mkdir -p var/mail/tmp var/mail/new var/mail/cur  # a Maildir
start mailbox "$PY" -m aiosmtpd -n -l "127.0.0.1:$MAIL_PORT" -c aiosmtpd.handlers.Mailbox var/mail
export NOTIFY_EMAIL=true EMAIL_HOST=127.0.0.1 EMAIL_PORT="$MAIL_PORT" NOTIFY_BASE_URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
  "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$MAIL_PORT" \
    2>/dev/null && break
  sleep 0.1
done

echo "== identity provider (OpenID Connect on :$OIDC_PORT: the npm oidc-provider, for the demo only)"
# Single sign-on as a company wires it (README, "In production: single sign-on"): a provider whose users carry the
# role groups and the domains claim, and Matchdesk's OIDC_* settings read from its discovery document. Local passwords
# stay on.
bash scripts/ensure_oidc_provider.sh
SSO_LOGINS=$("$PY" scripts/demo_sso_users.py var/oidc-users.json "$DEMO_DOMAIN")
start oidc env OIDC_PORT="$OIDC_PORT" OIDC_USERS_FILE=var/oidc-users.json \
  OIDC_REDIRECT_URIS="http://127.0.0.1:$PORT/oidc/callback/,http://localhost:$PORT/oidc/callback/" \
  OIDC_POST_LOGOUT_URIS="http://127.0.0.1:$PORT/login/,http://localhost:$PORT/login/" \
  node scripts/oidc_provider.mjs
wait_http "http://127.0.0.1:$OIDC_PORT/ready" "the identity provider"
OIDC_SETTINGS=$("$PY" - "http://127.0.0.1:$OIDC_PORT" <<'PYEOF'
import json, sys, urllib.request
found = json.load(urllib.request.urlopen(sys.argv[1] + "/.well-known/openid-configuration", timeout=5))
for name, key in [("ISSUER", "issuer"), ("AUTHORIZATION_ENDPOINT", "authorization_endpoint"),
                  ("TOKEN_ENDPOINT", "token_endpoint"), ("USER_ENDPOINT", "userinfo_endpoint"),
                  ("JWKS_ENDPOINT", "jwks_uri"), ("LOGOUT_ENDPOINT", "end_session_endpoint")]:
    print(f"OIDC_OP_{name}={found[key]}")
PYEOF
)
while IFS='=' read -r name value; do export "$name=$value"; done <<<"$OIDC_SETTINGS"
# The provider's static client: its secret is public (scripts/oidc_provider.mjs), fit for this demo only.
export SSO_ENABLED=true OIDC_RP_CLIENT_ID=matchdesk OIDC_RP_CLIENT_SECRET=matchdesk-test-secret

echo "== demo domain and users"
"$PY" manage.py add_domain "$DEMO_DOMAIN" --region us-east-1 --endpoint-url "http://127.0.0.1:$EMULATOR_PORT"
LOGINS=$("$PY" manage.py seed_demo_users)

echo "== webhook receiver on :$WEBHOOK_PORT (deliveries in var/webhooks)"
# An endpoint for every event, with a new secret at each start (the admin's add_webhook, as on Admin -> Webhooks)
# and a test delivery; the receiver checks each delivery's signature and timestamp with that secret.
WEBHOOK_SECRET=$("$PY" manage.py add_webhook "demo receiver" --url "http://127.0.0.1:$WEBHOOK_PORT/" --actor admin \
  --send-test)
WEBHOOK_SECRET="$WEBHOOK_SECRET" start webhooks "$PY" scripts/webhook_receiver.py --port "$WEBHOOK_PORT" \
  --dir var/webhooks
wait_http "http://127.0.0.1:$WEBHOOK_PORT/" "the webhook receiver"

echo "== first pull of $DEMO_DOMAIN"
"$PY" manage.py pull_matches "$DEMO_DOMAIN"

echo "== static files (collectstatic; WhiteNoise serves them, as in production)"
"$PY" manage.py collectstatic --noinput -v 0

echo "== worker, beat and web"
supervised worker .venv/bin/celery -A reviewapp worker --loglevel INFO --concurrency 2
supervised beat .venv/bin/celery -A reviewapp beat --loglevel INFO
# Metrics add up across gunicorn's workers in prometheus_client's multiprocess mode (an empty directory per start).
rm -rf var/prometheus && mkdir -p var/prometheus
supervised web env PROMETHEUS_MULTIPROC_DIR="$PWD/var/prometheus" .venv/bin/gunicorn reviewapp.wsgi \
  --config gunicorn.conf.py --bind "127.0.0.1:$PORT" --workers "${WEB_CONCURRENCY:-2}"
wait_http "http://127.0.0.1:$PORT/login/" "the web server"

if [ "${DEMO_S3:-0}" = "1" ]; then
  echo "== $DEMO_DOMAIN-s3: results read from the S3 export by the worker"
  "$PY" manage.py add_domain "$DEMO_DOMAIN-s3" --region us-east-1 --endpoint-url "http://127.0.0.1:$EMULATOR_PORT" \
    --results-source s3
  "$PY" manage.py pull_matches "$DEMO_DOMAIN-s3"
fi

cat <<MSG

Matchdesk is running: open http://127.0.0.1:$PORT/ and log in.
$LOGINS

Single sign-on: "Log in with single sign-on" on the login page, then sign in at the demo's identity provider
(http://127.0.0.1:$OIDC_PORT; client matchdesk, secret matchdesk-test-secret: for this demo only) as
$SSO_LOGINS

Mail (notifications): var/mail/new/, one file a message (a Maildir; choose what you get on Notifications).
Webhooks: the endpoint "demo receiver" (Admin -> Webhooks) posts every event to http://127.0.0.1:$WEBHOOK_PORT/,
which checks each signature and writes what it accepts to var/webhooks/, one file a delivery.
Logs: var/log/   Stop everything: make stop
MSG
