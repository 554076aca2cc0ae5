"""The thresholds page: the policy in force and a previewed pair with their estimated error shares, the trade-off
chart, suggestions, which decisions count, and calibration samples (docs/thresholds.md).

Every view needs the Administer permission; the preview is an htmx partial with a plain GET beside it."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from matches import estimates as es
from matches import roles
from matches.access import Request, require_perm
from matches.models import CalibrationSample, Domain
from matches.selectors import admin as admin_reads
from matches.selectors import estimates as estimate_reads
from matches.selectors.rule_evidence import rule_evidence
from matches.services import calibration, thresholds
from matches.views.htmx import render_fragment

admin_only = require_perm(roles.ADMINISTER)
TEMPLATE = "matches/admin/thresholds.html"
MERGE_TARGETS = (0.005, 0.01, 0.02, 0.05)
REJECT_TARGETS = (0.01, 0.02, 0.05, 0.1)


def _domain(name: str) -> Domain:
    return get_object_or_404(Domain, name=name)


def _choice(raw: str | None, choices: tuple[float, ...], default: float) -> float:
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if value in choices else default


def _include(request: Request) -> list[int]:
    return [int(v) for v in request.GET.getlist("include") if v.isdigit()]


def _proposed(request: Request, domain: Domain) -> tuple[Decimal, Decimal, str]:
    policy = domain.policy()
    merge = request.GET.get("merge_min", policy.merge_min)
    reject = request.GET.get("reject_below", policy.reject_below)
    try:
        merge, reject = thresholds.threshold_parse(merge_min=merge, reject_below=reject)
    except thresholds.ThresholdInvalid as exc:
        return policy.merge_min, policy.reject_below, str(exc)
    return merge, reject, ""


def _estimates(request: Request, domain: Domain, merge: Decimal, reject: Decimal) -> dict:
    """What the preview partial shows besides the histogram: both pairs' estimates and the trade-off chart."""
    merge_target = _choice(request.GET.get("merge_target"), MERGE_TARGETS, es.DEFAULT_MERGE_TARGET)
    reject_target = _choice(request.GET.get("reject_target"), REJECT_TARGETS, es.DEFAULT_REJECT_TARGET)
    result = estimate_reads.run_estimates(
        domain=domain, include=_include(request), merge_target=merge_target, reject_target=reject_target
    )
    policy = domain.policy()
    out: dict[str, object] = {"merge_target": merge_target, "reject_target": reject_target, "result": result}
    if result is not None:
        out.update(
            in_force=result.at(policy.merge_min, policy.reject_below),
            proposed=result.at(merge, reject),
            tradeoff=estimate_reads.tradeoff_chart(result, merge, reject),
        )
    return out


def _context(request: Request, domain: Domain, merge: Decimal, reject: Decimal, error: str = "") -> dict:
    context = {
        "domain": domain,
        "policy": domain.policy(),
        "merge_min": merge,
        "reject_below": reject,
        "error": error,
        "preview": admin_reads.threshold_preview(domain=domain, merge_min=merge, reject_below=reject),
        "history": admin_reads.policy_history(domain=domain),
        "qa_results": admin_reads.qa_results(domain=domain),
        "calibration": estimate_reads.calibration_progress(domain=domain),
        "rule_bands": rule_evidence(domain=domain),
        "merge_targets": MERGE_TARGETS,
        "reject_targets": REJECT_TARGETS,
        "include": _include(request),
        "note": request.POST.get("note", "") if request.method == "POST" else "",
        **_estimates(request, domain, merge, reject),
    }
    result = context["result"]
    if result is not None:
        suggested_m, suggested_r = result.suggestion
        context.update(
            earlier_runs=estimate_reads.earlier_runs(domain, result.run),
            suggested_merge=None if suggested_m is None else f"{suggested_m / 1000:.3f}",
            suggested_reject=None if suggested_r is None else f"{suggested_r / 1000:.3f}",
            advice=es.advice(result.estimates, merge_target=result.merge_target, reject_target=result.reject_target),
        )
    return context


@require_GET
@admin_only
def page(request: Request, name: str) -> HttpResponse:
    domain = _domain(name)
    merge, reject, error = _proposed(request, domain)
    return render(request, TEMPLATE, _context(request, domain, merge, reject, error))


@require_GET
@admin_only
def preview(request: Request, name: str) -> HttpResponse:
    domain = _domain(name)
    merge, reject, error = _proposed(request, domain)
    if not request.htmx:
        return redirect(f"{reverse('admin-thresholds', args=[domain.name])}?{request.GET.urlencode()}")
    context = {
        "domain": domain,
        "preview": admin_reads.threshold_preview(domain=domain, merge_min=merge, reject_below=reject),
        "merge_min": merge,
        "reject_below": reject,
        "error": error,
        **_estimates(request, domain, merge, reject),
    }
    return render_fragment(request, TEMPLATE, "preview", context)


@require_POST
@admin_only
def save(request: Request, name: str) -> HttpResponse:
    domain = _domain(name)
    merge, reject, note = (
        request.POST.get("merge_min", ""),
        request.POST.get("reject_below", ""),
        request.POST.get("note", ""),
    )
    try:
        policy = thresholds.threshold_set(
            actor=request.user, domain=domain, merge_min=merge, reject_below=reject, note=note
        )
    except thresholds.ThresholdInvalid as exc:
        current = domain.policy()
        context = _context(request, domain, current.merge_min, current.reject_below, str(exc))
        context.update(raw_merge=merge, raw_reject=reject)
        return render(request, TEMPLATE, context, status=400)
    messages.success(
        request, f"Thresholds in force for {domain.name}: merge ≥ {policy.merge_min}, reject < {policy.reject_below}."
    )
    return redirect("admin-thresholds", name=domain.name)


@require_POST
@admin_only
def calibration_draw(request: Request, name: str) -> HttpResponse:
    domain = _domain(name)
    try:
        sample = calibration.calibration_sample_draw(
            actor=request.user, domain=domain, budget=request.POST.get("budget", ""), seed=request.POST.get("seed")
        )
    except calibration.SampleRefused as exc:
        messages.error(request, f"No calibration sample drawn: {exc}")
    else:
        messages.success(
            request,
            f"Calibration sample of {sample.budget} decisions (seed {sample.seed}): {sample.drawn} groups drawn for "
            "the first round. Stewards pressing “next” in any queue get them first, blind.",
        )
    return redirect(f"{reverse('admin-thresholds', args=[domain.name])}#calibration")


@require_POST
@admin_only
def calibration_close(request: Request, name: str, pk: int) -> HttpResponse:
    domain = _domain(name)
    sample = get_object_or_404(CalibrationSample, pk=pk, domain=domain)
    calibration.calibration_sample_close(sample=sample, actor=request.user)
    messages.success(request, f"Calibration sample {sample.pk} stopped: its undecided groups are back in their queues.")
    return redirect(f"{reverse('admin-thresholds', args=[domain.name])}#calibration")
