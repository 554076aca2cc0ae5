"""Every endpoint of the site, found by walking Django's URL resolver, with the request fields each one reads.

Nothing here names a URL or a view: a pattern's path converters come from its route, and its fields from the form
classes and the `request.POST` / `request.GET` reads in the view's own source (and the same-package helpers, forms and
selectors it calls). Renaming, splitting or moving views and URLs changes nothing here."""

from __future__ import annotations

import inspect
import re
import types
from dataclasses import dataclass, field
from functools import cache

from django import forms
from django.urls import URLPattern, URLResolver, get_resolver

CONVERTER = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")
# `.get("x")`, `.getlist("x")`, `.pop("x")` and `POST["x"]` / `GET["x"]`: over-collecting (another dict's key) only
# adds a field the view ignores.
READ = re.compile(r"""\.(?:get|getlist|pop)\(\s*["']([\w:.\-]{1,40})["']""")
SUBSCRIPT = re.compile(r"""(?:POST|GET|data|post|params)\[\s*["']([\w:.\-]{1,40})["']\]""")
# Families of fields read by prefix (`name.startswith("src:")`): one member stands for them.
PREFIX = re.compile(r"""\.startswith\(\s*["']([\w\-]{1,20}:)["']""")
READS_PARAMS = re.compile(r"\b(?:params|request\.GET|request\.POST|post)\.get\((?!\s*[\"'])")
FIELD_LIKE = re.compile(r"^[a-z][a-z0-9_]{0,24}$")
OWN_PACKAGES = ("matches",)


@dataclass(frozen=True)
class Endpoint:
    route: str  # "groups/<int:pk>/decide/"
    name: str  # the URL name (only for test ids and messages)
    converters: tuple[tuple[str, str], ...]  # (kwarg, converter type) in route order
    fields: tuple[str, ...] = field(default=())

    @property
    def id(self) -> str:
        return self.name or self.route

    def path(self, values: dict[str, str]) -> str:
        """The route with each converter replaced by its (already URL-quoted) value."""

        def fill(m: re.Match) -> str:
            return values[m.group("name")]

        return "/" + CONVERTER.sub(fill, self.route)


def _route(pattern) -> str:
    route = str(pattern.pattern)
    if route.startswith("^"):  # a regex pattern: keep named groups as converters, drop anchors
        route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<str:\1>", route.strip("^$"))
    return route


def _walk(patterns, prefix: str = ""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + _route(p))
        elif isinstance(p, URLPattern):
            yield prefix + _route(p), p


def _own(obj) -> bool:
    module = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", "") or ""
    return module.split(".")[0] in OWN_PACKAGES


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names) | set(code.co_varnames) | set(code.co_freevars)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _code_strings(code) -> set[str]:
    found = set()
    for const in code.co_consts if isinstance(code, types.CodeType) else code:
        if isinstance(const, str):
            found.add(const)
        elif isinstance(const, (tuple, frozenset, types.CodeType)):
            found |= _code_strings(const)
    return found


def _form_fields(cls: type) -> set[str]:
    names = set(getattr(cls, "base_fields", {}) or {})
    # A CheckboxSelectMultiple or a prefixed form posts the same names; that is all the suite needs.
    return names


def _fields_of(obj, seen: set[int], depth: int = 0) -> set[str]:
    """Field names read by `obj` (a view function or helper), following own helpers, forms and selectors."""
    if id(obj) in seen or depth > 3:
        return set()
    seen.add(id(obj))
    if isinstance(obj, type):
        if issubclass(obj, forms.BaseForm):
            return _form_fields(obj)
        return set()
    while hasattr(obj, "__wrapped__"):
        obj = obj.__wrapped__
    if not inspect.isfunction(obj) or not _own(obj):
        return set()
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError):
        return set()
    found = set(READ.findall(source)) | set(SUBSCRIPT.findall(source))
    found |= {f"{prefix}FirstName" for prefix in PREFIX.findall(source)}
    if READS_PARAMS.search(source):  # names read in a loop (`for name in ("min", "max"): params.get(name)`)
        found |= {c for c in _code_strings(obj.__code__) if FIELD_LIKE.match(c)}
    names = _code_names(obj.__code__)
    scopes = [obj.__globals__] + [
        vars(v) for v in obj.__globals__.values() if isinstance(v, types.ModuleType) and _own(v)
    ]
    for name in names:
        for scope in scopes:
            target = scope.get(name)
            if target is not None and (inspect.isfunction(target) or isinstance(target, type)) and _own(target):
                found |= _fields_of(target, seen, depth + 1)
    return found


def _view_fields(callback) -> set[str]:
    view_class = getattr(callback, "view_class", None)
    if view_class is not None:  # Django's class-based views (login, logout): their form, and where to go next
        found = {"next"}
        form_class = getattr(view_class, "form_class", None)
        if form_class is not None:
            found |= _form_fields(form_class)
        return found
    return _fields_of(callback, set())


@cache
def endpoints() -> tuple[Endpoint, ...]:
    found = []
    for route, pattern in _walk(get_resolver().url_patterns):
        converters = tuple((m.group("name"), m.group("conv") or "str") for m in CONVERTER.finditer(route))
        fields = tuple(sorted(_view_fields(pattern.callback)))
        found.append(Endpoint(route=route, name=pattern.name or "", converters=converters, fields=fields))
    return tuple(found)
