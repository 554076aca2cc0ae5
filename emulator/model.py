"""The Customer Profiles service model (botocore's JSON), used to route and validate requests.

botocore's copy is the authority for URIs, shapes and limits, so the emulator reads it instead of
restating them. Only the data file is read: botocore itself is never imported.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

MODEL_RELATIVE_PATH = Path("data", "customer-profiles", "2020-08-15", "service-2.json.gz")


class ValidationError(Exception):
    """Input that does not satisfy the service model; surfaces as a BadRequestException."""


@dataclass(frozen=True)
class Route:
    operation: str
    method: str
    pattern: re.Pattern[str]
    input_shape: str | None
    error_shapes: tuple[str, ...]


def _model_path() -> Path:
    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("botocore is not installed: the emulator reads its customer-profiles service model")
    return Path(list(spec.submodule_search_locations)[0]) / MODEL_RELATIVE_PATH


@lru_cache(maxsize=1)
def service_model() -> dict[str, Any]:
    with gzip.open(_model_path(), "rt", encoding="utf-8") as fh:
        return json.load(fh)


def shapes() -> dict[str, Any]:
    return service_model()["shapes"]


def _uri_regex(uri_path: str) -> re.Pattern[str]:
    out = ""
    for part in re.split(r"(\{[^}]+\})", uri_path):
        if part.startswith("{"):
            name = part[1:-1]
            if name.endswith("+"):
                out += f"(?P<{name[:-1]}>.+)"
            else:
                out += f"(?P<{name}>[^/]+)"
        else:
            out += re.escape(part)
    return re.compile(f"^{out}$")


@lru_cache(maxsize=1)
def routes() -> tuple[Route, ...]:
    found = []
    for name, op in service_model()["operations"].items():
        uri = op["http"]["requestUri"].split("?", 1)[0]
        found.append(
            Route(
                operation=name,
                method=op["http"]["method"],
                pattern=_uri_regex(uri),
                input_shape=op.get("input", {}).get("shape"),
                error_shapes=tuple(e["shape"] for e in op.get("errors", [])),
            )
        )
    # Literal segments must win over placeholders (/profiles/search vs /profiles/{ProfileId}).
    found.sort(key=lambda r: (r.pattern.pattern.count("(?P<"), -len(r.pattern.pattern)))
    return tuple(found)


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in routes():
        if route.method != method:
            continue
        m = route.pattern.match(path)
        if m:
            return route, m.groupdict()
    return None


def parse_input(route: Route, path_params: dict[str, str], query: dict[str, list[str]], body: Any) -> dict[str, Any]:
    """Build the operation's input dict (model member names) from URI, query string and JSON body."""
    if route.input_shape is None:
        return {}
    shape = shapes()[route.input_shape]
    params: dict[str, Any] = {}
    for member, ref in shape.get("members", {}).items():
        location = ref.get("location")
        loc_name = ref.get("locationName", member)
        target = shapes()[ref["shape"]]
        if location == "uri":
            if loc_name in path_params:
                params[member] = path_params[loc_name]
        elif location == "querystring":
            if loc_name in query:
                raw = query[loc_name][0]
                if target["type"] in ("integer", "long"):
                    try:
                        params[member] = int(raw)
                    except ValueError:
                        raise ValidationError(
                            f"1 validation error detected: Value '{raw}' at '{_camel(member)}' "
                            "failed to satisfy constraint: Member must be a number"
                        ) from None
                else:
                    params[member] = raw
        elif location == "header":
            continue
        elif isinstance(body, dict) and member in body:
            params[member] = body[member]
    return params


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def validate(shape_name: str, value: Any) -> None:
    """Raise ValidationError with AWS's wording for the first problems found (like the real front end)."""
    problems: list[str] = []
    _check(shape_name, value, "", problems)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise ValidationError(f"{count} validation {noun} detected: " + "; ".join(problems[:5]))


def _check(shape_name: str, value: Any, where: str, problems: list[str]) -> None:
    shape = shapes()[shape_name]
    kind = shape["type"]
    label = where or "input"
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(f"Value at '{label}' failed to satisfy constraint: Member must be an object")
            return
        members = shape.get("members", {})
        for req in shape.get("required", []):
            if value.get(req) is None:
                problems.append(
                    f"Value null at '{_join(where, req)}' failed to satisfy constraint: Member must not be null"
                )
        for key, item in value.items():
            if key in members and item is not None:
                _check(members[key]["shape"], item, _join(where, key), problems)
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"Value at '{label}' failed to satisfy constraint: Member must be a list")
            return
        _length(shape, len(value), value, label, problems)
        for i, item in enumerate(value):
            _check(shape["member"]["shape"], item, f"{label}.{i + 1}.member", problems)
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(f"Value at '{label}' failed to satisfy constraint: Member must be a map")
            return
        for k, v in value.items():
            _check(shape["key"]["shape"], k, f"{label}.key", problems)
            _check(shape["value"]["shape"], v, f"{label}.value", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"Value at '{label}' failed to satisfy constraint: Member must be a string")
            return
        _length(shape, len(value), value, label, problems)
        # Smithy patterns are unanchored, but AWS refuses e.g. a 33-character profile id, so match whole.
        if "pattern" in shape and not re.fullmatch(shape["pattern"].lstrip("^").rstrip("$"), value, re.DOTALL):
            problems.append(
                f"Value '{value}' at '{label}' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {shape['pattern']}"
            )
        if "enum" in shape and value not in shape["enum"]:
            problems.append(
                f"Value '{value}' at '{label}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(shape['enum'])}]"
            )
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"Value '{value}' at '{label}' failed to satisfy constraint: Member must be a number")
            return
        if "min" in shape and value < shape["min"]:
            problems.append(
                f"Value '{value}' at '{label}' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {shape['min']}"
            )
        if "max" in shape and value > shape["max"]:
            problems.append(
                f"Value '{value}' at '{label}' failed to satisfy constraint: "
                f"Member must have value less than or equal to {shape['max']}"
            )
    elif kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"Value '{value}' at '{label}' failed to satisfy constraint: Member must be a number")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"Value '{value}' at '{label}' failed to satisfy constraint: Member must be a boolean")


def _length(shape: dict[str, Any], length: int, value: Any, label: str, problems: list[str]) -> None:
    shown = value if isinstance(value, str) else "[" + ", ".join(map(str, value)) + "]"
    if "min" in shape and length < shape["min"]:
        problems.append(
            f"Value '{shown}' at '{label}' failed to satisfy constraint: "
            f"Member must have length greater than or equal to {shape['min']}"
        )
    if "max" in shape and length > shape["max"]:
        problems.append(
            f"Value '{shown}' at '{label}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {shape['max']}"
        )


def _join(where: str, member: str) -> str:
    return f"{where}.{_camel(member)}" if where else _camel(member)


def profile_fields() -> list[str]:
    """Profile members that MergeProfiles can choose a source for (FieldSourceProfileIds)."""
    return [m for m in shapes()["FieldSourceProfileIds"]["members"] if m != "Attributes"]
