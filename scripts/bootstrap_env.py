"""Write a local .env for development and tests if there is none: random keys, the local Postgres and Redis,
and the emulator as the Customer Profiles endpoint. Never committed (.gitignore)."""

import secrets
import sys
from pathlib import Path

ENV = Path(__file__).resolve().parent.parent / ".env"

TEMPLATE = """\
DEBUG=true
SECRET_KEY={secret}
AUDIT_HMAC_KEY={audit}
DATABASE_URL=postgres://postgres@127.0.0.1:5432/matchdesk
REDIS_URL=redis://127.0.0.1:6379/0
ALLOWED_HOSTS=localhost,127.0.0.1
# The embedded default: the local emulator stands in for Customer Profiles. Dummy credentials, never real ones.
AWS_ENDPOINT_URL_CUSTOMER_PROFILES=http://127.0.0.1:8765
AWS_ACCESS_KEY_ID=emulator
AWS_SECRET_ACCESS_KEY=emulator
AWS_DEFAULT_REGION=us-east-1
"""


def main() -> int:
    if ENV.exists():
        return 0
    ENV.write_text(TEMPLATE.format(secret=secrets.token_urlsafe(50), audit=secrets.token_hex(32)))
    print(f"wrote {ENV.name} with fresh keys")
    return 0


if __name__ == "__main__":
    sys.exit(main())
