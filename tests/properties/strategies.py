"""Hostile values: what a confused person, a fuzzer or an attacker types into a URL, a query or a form."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from hypothesis import strategies as st

from tests.properties.endpoints import Endpoint

HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "0",
    "-1",
    "1.5",
    "abc",
    "9" * 25,  # past any bigint
    "99999999999999999999",
    str(2**63),
    "-" + "9" * 30,
    "1e999",
    "NaN",
    "Infinity",
    "²",  # a digit to str.isdigit(), not to int()
    "١٢٣",  # Arabic-Indic digits: int() reads them
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{ 7*7 }}",
    "' OR 1=1 --",
    "%00",
    "../../etc/passwd",
    "\u202egnp.exe",
    "😀" * 10,
    "ǅ𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    '=HYPERLINK("http://x")',
    "x" * 300,
    "x" * 5000,
    "a\r\nSet-Cookie: x=1",
    "//evil.example/",
    "https://evil.example/",
    "javascript:alert(1)",
]


def values(world) -> st.SearchStrategy[str]:
    """One field or converter value: hostile, generated, or one that names something that exists."""
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.sampled_from(world.names + world.ids + world.profile_ids + world.words),
        st.text(max_size=30),
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
    )


@dataclass(frozen=True)
class Req:
    role: str
    method: str
    path: str
    data: tuple[tuple[str, str], ...] = ()  # repeated names are repeated fields
    htmx: str = ""  # "" (a plain request) or the id htmx says it targets
    why: str = field(default="", compare=False)

    def fields(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, value in self.data:
            out.setdefault(name, []).append(value)
        return out


def path_value(conv: str, value: str) -> str:
    return quote(value, safe="") if value != "" else ("0" if conv == "int" else "x")


@st.composite
def requests_to(draw, endpoint: Endpoint, world, roles) -> Req:
    role = draw(st.sampled_from(roles))
    vals = {}
    for name, conv in endpoint.converters:
        if name in ("domain", "name"):
            raw = draw(st.one_of(st.sampled_from(world.names), values(world)))
        elif name == "profile_id":
            raw = draw(st.one_of(st.sampled_from(world.profile_ids), values(world)))
        elif conv == "int":
            raw = draw(st.one_of(st.sampled_from(world.ids), values(world)))
        else:
            raw = draw(st.one_of(st.sampled_from(world.words), values(world)))
        vals[name] = path_value(conv, raw)
    names = list(endpoint.fields) or ["x"]
    data = draw(st.lists(st.tuples(st.sampled_from(names + ["unexpected"]), values(world)), max_size=8))
    return Req(
        role=role,
        method=draw(st.sampled_from(["GET", "POST"])),
        path=endpoint.path(vals),
        data=tuple(data),
        htmx=draw(st.sampled_from(["", "", "body", "queue-table", "events", "group-panel"])),
    )
