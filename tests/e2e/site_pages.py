"""Every full HTML page of the site, found by walking the URL resolver (tests/properties/endpoints.py) over the
world of tests/site_world.py: each route's converters are filled with existing names and ids until one role, tried
from the least privileged, gets a whole page (200, text/html, an <html> document). Partials, exports and POST-only
routes are not pages and drop out by themselves."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from django.test import Client

from tests.properties.endpoints import endpoints
from tests.site_world import WORDS

ROLE_ORDER = ("anonymous", "steward", "auditor", "admin")
MAX_TRIES = 40
ID_NAMES = ("domain", "name", "profile_id")


@dataclass(frozen=True)
class SitePage:
    id: str  # the route (URL names may change; routes are what people bookmark), with the word filled in, if any
    role: str
    path: str


def _candidates(name: str, conv: str, data: dict) -> list[str]:
    if name in ("domain", "name"):
        return data["names"]
    if name == "profile_id":
        return data["profile_ids"][:3]
    if conv == "int":
        return data["ids"]
    return [w for w in WORDS if w.isidentifier()]


def site_pages(*, data: dict, users: dict) -> list[SitePage]:
    clients = {"anonymous": Client()}
    for role in ROLE_ORDER[1:]:
        clients[role] = Client()
        clients[role].force_login(users[role])
    found = []
    for endpoint in endpoints():
        choices = [_candidates(name, conv, data) for name, conv in endpoint.converters]
        # A word in the route (a queue, a tab) makes one page per word that works; ids and names need only one.
        every_word = any(conv != "int" and name not in ID_NAMES for name, conv in endpoint.converters)
        for combo in itertools.islice(itertools.product(*choices), MAX_TRIES):
            path = endpoint.path(dict(zip([n for n, _ in endpoint.converters], combo)))
            role = next((r for r in ROLE_ORDER if _is_page(clients[r].get(path))), None)
            if role:
                suffix = f"[{'/'.join(c for c, (n, _) in zip(combo, endpoint.converters) if n not in ID_NAMES)}]"
                found.append(SitePage(id=endpoint.route + (suffix if every_word else ""), role=role, path=path))
                if not every_word:
                    break
    return found


def _is_page(response) -> bool:
    return (
        response.status_code == 200
        and response.get("Content-Type", "").startswith("text/html")
        and b"<html" in response.content
    )
