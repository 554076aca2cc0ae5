"""How the values of one attribute compare across the profiles of a group (pure functions, no database).

A row is `exact` when every non-empty value is the same string, `equivalent` when they agree after normalisation
(email lowercase; phones in E.164; names casefolded, accents stripped, whitespace collapsed; addresses part by part),
`similar` when every pair is close (rapidfuzz ratio of the normalised forms >= SIMILAR_MIN), and `different` otherwise.
A row with a single non-empty value is `single` (nothing to reconcile: MergeProfiles combines it), none is `empty`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import phonenumbers
from rapidfuzz import fuzz

from matches import fields

EXACT = "exact"
EQUIVALENT = "equivalent"
SIMILAR = "similar"
DIFFERENT = "different"
SINGLE = "single"
EMPTY = "empty"
VERDICT_LABELS = {
    EXACT: "same",
    EQUIVALENT: "equivalent",
    SIMILAR: "similar",
    DIFFERENT: "different",
    SINGLE: "one value",
    EMPTY: "empty",
}
# Worst first: a row takes the worst relation found between any two of its values.
_ORDER = {EXACT: 0, EQUIVALENT: 1, SIMILAR: 2, DIFFERENT: 3}

SIMILAR_MIN = 85.0
DEFAULT_REGION = "US"

NAME, PHONE, EMAIL, ADDRESS, DATE, CODE, TEXT = "name", "phone", "email", "address", "date", "code", "text"

_SPACES = re.compile(r"\s+")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_EMAIL_PIECES = re.compile(r"[^@.]*[@.]|[^@.]+$")
# Country values seen in address data that are not ISO 3166 alpha-2 codes.
_COUNTRY_ALIASES = {
    "usa": "US",
    "united states": "US",
    "united states of america": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "uk": "GB",
    "united kingdom": "GB",
    "great britain": "GB",
    "gbr": "GB",
    "can": "CA",
    "canada": "CA",
    "deu": "DE",
    "germany": "DE",
    "fra": "FR",
    "france": "FR",
    "mex": "MX",
    "mexico": "MX",
    "aus": "AU",
    "australia": "AU",
    "ind": "IN",
    "india": "IN",
    "esp": "ES",
    "spain": "ES",
    "ita": "IT",
    "italy": "IT",
    "nld": "NL",
    "netherlands": "NL",
}
_REGIONS = phonenumbers.SUPPORTED_REGIONS


def kind_of(key: str) -> str:
    """The comparison kind of a field_sources key ('FirstName', 'Attributes.tier', ...)."""
    if key in fields.NAME_FIELDS or key == "BusinessName":
        return NAME
    if key in fields.PHONE_FIELDS:
        return PHONE
    if key in fields.EMAIL_FIELDS:
        return EMAIL
    if key in fields.ADDRESS_FIELDS:
        return ADDRESS
    if key == "BirthDate":
        return DATE
    if key in ("AccountNumber", "Gender", "PartyType"):
        return CODE
    return TEXT


def is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return all(is_empty(v) for v in value.values())
    return str(value).strip() == ""


def fold(text: str) -> str:
    """Casefold, strip accents (NFKD without combining marks), collapse whitespace."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold()).strip()


def region_hint(country: Any) -> str | None:
    """An ISO region for phonenumbers from an address Country value, or None."""
    if is_empty(country):
        return None
    raw = str(country).strip()
    if raw.upper() in _REGIONS:
        return raw.upper()
    return _COUNTRY_ALIASES.get(raw.casefold())


def normalise_phone(value: str, region: str | None = None) -> str:
    """E.164 when phonenumbers can parse it (with the region hint, else US); digits only otherwise."""
    text = str(value).strip()
    try:
        parsed = phonenumbers.parse(text, region or DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None and parsed.national_number:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return re.sub(r"\D", "", text)


def format_address(value: Any) -> str:
    """An address map as one line: street parts, then city, state/province, postal code, country."""
    if not isinstance(value, dict):
        return "" if is_empty(value) else str(value)
    street = [str(value.get(k)).strip() for k in ("Address1", "Address2", "Address3", "Address4") if value.get(k)]
    locality = " ".join(
        str(value.get(k)).strip() for k in ("City", "State", "Province", "PostalCode") if not is_empty(value.get(k))
    )
    county = str(value.get("County") or "").strip()
    parts = [*street, locality, county, str(value.get("Country") or "").strip()]
    return ", ".join(p for p in parts if p)


def _normalise_address(value: Any) -> str:
    if not isinstance(value, dict):
        return fold(value)
    parts = []
    for part in fields.ADDRESS_PARTS:
        raw = value.get(part)
        if is_empty(raw):
            continue
        if part == "PostalCode":
            parts.append(_NOT_ALNUM.sub("", fold(str(raw))))
        elif part == "Country":
            parts.append((region_hint(raw) or fold(str(raw))).casefold())
        else:
            parts.append(fold(str(raw).replace(".", " ").replace(",", " ")))
    return " | ".join(parts)


def normalise(kind: str, value: Any, *, region: str | None = None) -> str:
    """The form two values are compared in to decide `equivalent`."""
    if kind == EMAIL:
        return str(value).strip().casefold()
    if kind == PHONE:
        return normalise_phone(value, region)
    if kind == ADDRESS:
        return _normalise_address(value)
    if kind == CODE:
        return _NOT_ALNUM.sub("", fold(value))
    if kind == DATE:
        return re.sub(r"[^0-9]", "", str(value))
    return fold(value)


def display(kind: str, value: Any) -> str:
    """The value as a steward reads it (escaped by the template, never marked safe)."""
    if is_empty(value):
        return ""
    if kind == ADDRESS:
        return format_address(value)
    if isinstance(value, (dict, list)):
        return str(value)
    return str(value)


def _raw(value: Any) -> str:
    if isinstance(value, dict):
        return repr(sorted((k, str(v)) for k, v in value.items() if not is_empty(v)))
    return str(value)


def relation(kind: str, a: Any, b: Any, *, region_a: str | None = None, region_b: str | None = None) -> str:
    """How two non-empty values compare: exact, equivalent, similar or different."""
    return _relate(_raw(a), _raw(b), normalise(kind, a, region=region_a), normalise(kind, b, region=region_b))


def _relate(raw_a: str, raw_b: str, norm_a: str, norm_b: str) -> str:
    if raw_a == raw_b:
        return EXACT
    if norm_a == norm_b:
        return EQUIVALENT
    if norm_a and norm_b and fuzz.ratio(norm_a, norm_b) >= SIMILAR_MIN:
        return SIMILAR
    return DIFFERENT


def worst(relations: list[str]) -> str:
    return max(relations, key=_ORDER.__getitem__) if relations else EXACT


@dataclass
class Cell:
    profile_id: str
    value: Any
    text: str
    empty: bool
    kind: str = TEXT
    relation: str = ""  # against the row's reference value (the main profile's, else the first non-empty)
    # The relation against each column's reference, in column order: the tint once the steward picks that main.
    relations: list[str] = field(default_factory=list)

    @property
    def breaks(self) -> list[str]:
        """An email in pieces that end at "@" or ".": the only places its line may wrap (never mid-word)."""
        return _EMAIL_PIECES.findall(self.text) if self.kind == EMAIL else []


@dataclass
class Row:
    key: str
    label: str
    kind: str
    cells: list[Cell]
    verdict: str
    # More than one distinct value: MergeProfiles needs a source, and the steward chooses it.
    conflict: bool
    default_source: str

    @property
    def verdict_label(self) -> str:
        return VERDICT_LABELS[self.verdict]


def compare_row(
    *, key: str, label: str, values: list[tuple[str, Any]], main_profile_id: str, regions: dict[str, str | None]
) -> Row:
    """Compare one attribute across profiles: `values` is [(profile_id, raw value)] in column order."""
    kind = kind_of(key)
    cells = [Cell(pid, v, display(kind, v), is_empty(v), kind) for pid, v in values]
    filled = [c for c in cells if not c.empty]
    if not filled:
        return Row(key, label, kind, cells, EMPTY, False, main_profile_id)
    # Each value is normalised once (phone parsing is the costly part); pairs compare the normalised strings.
    raws = {id(c): _raw(c.value) for c in filled}
    norms = {id(c): normalise(kind, c.value, region=regions.get(c.profile_id)) for c in filled}
    distinct = set(raws.values())
    if len(filled) == 1 or len(distinct) == 1:
        verdict = SINGLE if len(filled) == 1 else EXACT
    else:
        unique: dict[tuple[str, str], Cell] = {}
        for c in filled:
            unique.setdefault((raws[id(c)], norms[id(c)]), c)
        verdict = worst([_relate(a[0], b[0], a[1], b[1]) for a, b in combinations(unique, 2)])
    main_cell = next((c for c in filled if c.profile_id == main_profile_id), None)
    reference = main_cell or filled[0]

    def against(ref: Cell, c: Cell) -> str:
        return _relate(raws[id(ref)], raws[id(c)], norms[id(ref)], norms[id(c)])

    for c in filled:
        c.relation = against(reference, c)
        c.relations = [against(other if not other.empty else filled[0], c) for other in cells]
    return Row(key, label, kind, cells, verdict, len(distinct) > 1, reference.profile_id)


def _label(key: str) -> str:
    if key.startswith(fields.ATTRIBUTES + "."):
        return key.split(".", 1)[1]
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", key)


def profile_region(attributes: dict) -> str | None:
    """The phone region hint of a profile: the Country of its first address that names one."""
    for name in fields.ADDRESS_FIELDS:
        address = attributes.get(name)
        if isinstance(address, dict):
            hint = region_hint(address.get("Country"))
            if hint:
                return hint
    return None


def compare_profiles(
    profiles: list[tuple[str, dict | None]], *, main_profile_id: str, include_empty: bool = False
) -> list[Row]:
    """One Row per attribute (the fields MergeProfiles knows, then custom Attributes keys), in page order.
    `profiles` is [(profile_id, attributes or None when missing)] in column order."""
    attrs = [(pid, a or {}) for pid, a in profiles]
    regions = {pid: profile_region(a) for pid, a in attrs}
    custom = sorted({k for _, a in attrs for k in (a.get(fields.ATTRIBUTES) or {})})
    keys = [*fields.SOURCE_FIELDS, *(f"{fields.ATTRIBUTES}.{k}" for k in custom)]
    rows = []
    for key in keys:
        if key.startswith(fields.ATTRIBUTES + "."):
            name = key.split(".", 1)[1]
            values = [(pid, (a.get(fields.ATTRIBUTES) or {}).get(name)) for pid, a in attrs]
        else:
            values = [(pid, a.get(key)) for pid, a in attrs]
        row = compare_row(key=key, label=_label(key), values=values, main_profile_id=main_profile_id, regions=regions)
        if include_empty or row.verdict != EMPTY:
            rows.append(row)
    return rows
