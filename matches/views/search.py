"""The profile the engine missed (docs/architecture.md, "Search and manual groups"): the search panel of a group page
(an htmx partial, a whole page without JavaScript), the domain's search page, adding a profile to a group and forming
a manual group. Searches call AWS through a service; adding and forming write through services/search.py."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from matches import compare, roles
from matches.access import Request, get_domain_or_404, get_group_or_404, require_perm
from matches.forms.search import AddProfileForm, ManualGroupForm, SearchForm
from matches.models import Domain, MatchGroup, Profile
from matches.selectors import review as review_reads
from matches.selectors import search as search_reads
from matches.services import decisions, search
from matches.views import queues
from matches.views.htmx import render_page

TEMPLATE = "matches/review/search.html"


class Column:
    """A column of the side-by-side table: a member of the group, or a candidate from the search."""

    def __init__(self, number: int, profile: Profile, *, member: bool, holders: list[MatchGroup]) -> None:
        self.number, self.profile, self.member, self.holders = number, profile, member, holders
        self.profile_id = profile.profile_id
        a = profile.attributes or {}
        self.name = " ".join(str(a.get(k) or "").strip() for k in ("FirstName", "LastName")).strip()

    @property
    def free(self) -> bool:
        return not self.member and not self.holders


def _run(request: Request, outcome: search.SearchOutcome | None, domain: Domain, group: MatchGroup | None) -> dict:
    """The table: the group's members first (when searching from a group), then the candidates found."""
    members = list(group.profile_ids) if group is not None else []
    cached = search_reads.cached_profiles(domain_id=domain.pk, profile_ids=members)
    found = [p for p in (outcome.profiles if outcome else []) if p.profile_id not in members]
    holders = search_reads.groups_holding(run=domain.latest_completed_run(), profile_ids=[p.profile_id for p in found])
    columns = [Column(i + 1, cached[pid], member=True, holders=[]) for i, pid in enumerate(members) if pid in cached]
    for p in found:
        others = [g for g in holders.get(p.profile_id, []) if group is None or g.pk != group.pk]
        columns.append(Column(len(columns) + 1, p, member=False, holders=others))
    main = members[0] if members else (found[0].profile_id if found else "")
    rows = compare.compare_profiles(
        [(c.profile_id, None if c.profile.missing else c.profile.attributes) for c in columns], main_profile_id=main
    )
    candidates = [c for c in columns if not c.member]
    return {"columns": columns, "rows": rows, "candidates": candidates, "free": sum(1 for c in candidates if c.free)}


def _search(request: Request, domain: Domain, group: MatchGroup | None) -> tuple[SearchForm, dict]:
    form = SearchForm(request.GET if "value" in request.GET else None)
    outcome, error = None, ""
    try:
        if group is not None and request.GET.get("similar") == "1":
            main = request.GET.get("main") or ""
            if main not in group.profile_ids:
                main = decisions.default_main_profile(group)
            outcome = search.similar_profiles(group=group, actor=request.user, main_profile_id=main)
        elif form.is_bound and form.is_valid():
            data = form.cleaned_data
            outcome = search.profiles_search(domain=domain, actor=request.user, key=data["key"], value=data["value"])
    except (search.SearchFailed, decisions.DecisionRefused) as exc:
        error = str(exc)
    context = {"domain": domain, "group": group, "form": form, "outcome": outcome, "search_error": error}
    return form, {**context, **(_run(request, outcome, domain, group) if outcome else {})}


@require_GET
@require_perm(roles.DECIDE)
def group_search(request: Request, pk: int) -> HttpResponse:
    """Search AWS from a group page: the candidates side by side with the group's profiles."""
    group = get_group_or_404(request, pk, for_decision=True)
    _, context = _search(request, group.run.domain, group)
    context["queue"] = queues.queue_param(request.GET.get("queue"))
    context["qc"] = review_reads.queue_context(group.run.domain)
    context["can_add"] = group.status == MatchGroup.Status.OPEN
    return render_page(request, TEMPLATE, context, partial="search-results")


@require_GET
@require_perm(roles.DECIDE)
def domain_search(request: Request, name: str) -> HttpResponse:
    """Search AWS for a domain's profiles, to put profiles no group holds into a manual group."""
    domain = get_domain_or_404(request, name)
    _, context = _search(request, domain, None)
    context["qc"] = review_reads.queue_context(domain)
    context["queue"] = None
    return render_page(request, TEMPLATE, context, partial="search-results")


@require_POST
@require_perm(roles.DECIDE)
def group_add_profile(request: Request, pk: int) -> HttpResponse:
    group = get_group_or_404(request, pk, for_decision=True)
    form = AddProfileForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect(queues.group_url(group, None))
    try:
        new = search.group_profile_add(
            group=group,
            actor=request.user,
            profile_id=form.cleaned_data["profile_id"],
            reason=form.cleaned_data["reason"],
        )
    except (search.SearchFailed, decisions.DecisionRefused) as exc:
        messages.error(request, str(exc))
        return redirect(queues.group_url(group, None))
    messages.success(
        request, f"Added: manual group {new.match_id} holds {new.size} profiles and replaces group {group.match_id}."
    )
    return redirect(queues.group_url(new, "review"))


@require_POST
@require_perm(roles.DECIDE)
def manual_group_create(request: Request, name: str) -> HttpResponse:
    domain = get_domain_or_404(request, name)
    form = ManualGroupForm(request.POST)
    back = redirect("domain-search", domain.name)
    if not form.is_valid():
        messages.error(
            request, " ".join(str(e) for e in form.non_field_errors()) or "Check the reason (at most 2,000 characters)."
        )
        return back
    try:
        group = search.manual_group_create(
            domain=domain, actor=request.user, profile_ids=form.profile_ids, reason=form.cleaned_data["reason"]
        )
    except (search.SearchFailed, decisions.DecisionRefused) as exc:
        messages.error(request, str(exc))
        return back
    messages.success(request, f"Manual group {group.match_id} of {group.size} profiles: decide it now.")
    return redirect(queues.group_url(group, "review"))
