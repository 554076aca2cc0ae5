"""The one way views render for htmx (docs/architecture.md, "Templates and htmx").

A page is one template; the pieces htmx swaps are inline partials (`{% partialdef %}`). `render_page` answers an
htmx request with `page.html#partial` and anything else with the whole page; `render_fragment` is for endpoints that
only ever answer with a piece (a polled row, a panel), optionally with out-of-band pieces and a page title after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.html import format_html

from matches.access import Request


def render_page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    partial: str | None = None,
    target: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """The whole page, or only `partial` for htmx (only when htmx targets the element `target`, if given)."""
    wants_partial = bool(partial and request.htmx and (target is None or request.htmx.target == target))
    name = f"{template}#{partial}" if wants_partial else template
    return render(request, name, context, status=status)


def render_fragment(
    request: Request,
    template: str,
    partial: str,
    context: dict[str, Any],
    *,
    oob: Iterable[tuple[str, dict[str, Any]]] = (),
    title: str = "",
    status: int = 200,
) -> HttpResponse:
    """`template#partial` alone, then each (template, context) of `oob` (swapped out of band by their own ids).
    A `title` becomes a top-level <title>, which htmx takes as the page's title."""
    html = render_to_string(f"{template}#{partial}", context, request=request)
    extra = "".join(render_to_string(name, ctx, request=request) for name, ctx in oob)
    head = format_html("<title>{}</title>", title) if title else ""
    return HttpResponse(head + html + extra, status=status)
