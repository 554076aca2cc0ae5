"""The demo's single sign-on users: one per role and a steward limited to one domain, written with fresh passwords to
the users file of the demo's OpenID provider (scripts/oidc_provider.mjs), and their logins printed.

    python scripts/demo_sso_users.py USERS_FILE DOMAIN

Their claims are what Matchdesk's default settings read (docs/architecture.md, "Single sign-on and domain access"):
the role groups `Steward`, `Admin`, `Auditor` in the `groups` claim (OIDC_STEWARD_GROUPS, OIDC_ADMIN_GROUPS,
OIDC_AUDITOR_GROUPS) and the domain names in `matchdesk_domains` (OIDC_DOMAINS_CLAIM; "*" for every domain, and a
missing claim would give none). Their names start with "sso-", so they never meet the demo's local users. `make demo`
(scripts/demo.sh) runs it at every start. Standard library only.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

ALL = "*"


def demo_users(domain: str) -> dict[str, dict]:
    """The provider's users: login -> claims and password (new passwords at every call)."""

    def user(login: str, group: str, domains: list[str], role: str) -> tuple[str, dict]:
        return login, {
            "name": login,
            "email": f"{login}@matchdesk.local",  # the demo's mailbox receives their mail
            "groups": [group],
            "domains": domains,
            "password": secrets.token_urlsafe(9),
            "role": role,  # what the login list says; the provider ignores it
        }

    return dict(
        [
            user("sso-steward", "Steward", [ALL], "Steward"),
            user("sso-admin", "Admin", [ALL], "Admin"),
            user("sso-auditor", "Auditor", [ALL], "Auditor"),
            user("sso-limited", "Steward", [domain], f"Steward, domain {domain} only"),
        ]
    )


def write_users(path: Path, users: dict[str, dict]) -> None:
    """Replace the file at once (the provider re-reads it at every sign-in); only its owner may read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(users, out, indent=2, sort_keys=True)
    tmp.replace(path)


def logins(users: dict[str, dict]) -> str:
    return "\n".join(f"  {login:<12} {u['password']:<16} {u['role']}" for login, u in users.items())


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path, domain = Path(argv[0]), argv[1]
    users = demo_users(domain)
    write_users(path, users)
    print(logins(users))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
