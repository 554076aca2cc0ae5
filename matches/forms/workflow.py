"""Forms of assignment and reviewer quality (docs/architecture.md, "Assignment and age", "Reviewer quality")."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from matches import roles
from matches.models import Assignment

BIGINT_MAX = 2**63 - 1


def deciders() -> QuerySet:
    """Active users whose role decides groups (stewards and admins)."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=[roles.STEWARD, roles.ADMIN])
        .distinct()
        .order_by("username")
    )


def _score(label: str) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        min_value=Decimal(0),
        max_value=Decimal(1),
        max_digits=4,
        decimal_places=3,
        error_messages={"invalid": "A score is a number from 0 to 1, like 0.75."},
    )


class AssignmentForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=deciders(), label="Steward", empty_label=None)
    queue = forms.ChoiceField(choices=Assignment.Queue.choices, initial=Assignment.Queue.REVIEW)
    score_min = _score("Scores from")
    score_max = _score("to")
    count = forms.IntegerField(min_value=1, max_value=1000, initial=25, label="Groups")
    note = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = deciders()  # type: ignore[attr-defined]

    def clean(self) -> dict:
        data = super().clean() or {}
        low, high = data.get("score_min"), data.get("score_max")
        if low is not None and high is not None and low > high:
            self.add_error("score_max", "The highest score must not be below the lowest.")
        return data


class DeadlineForm(forms.Form):
    days = forms.IntegerField(
        min_value=1, max_value=365, required=False, label="Review deadline (days)", help_text="Blank: no deadline."
    )


class KnownAnswerForm(forms.Form):
    group = forms.IntegerField(
        min_value=1, max_value=BIGINT_MAX, label="Group number", help_text="The number in the group page's address."
    )
    note = forms.CharField(max_length=200, required=False)


class QualityRatesForm(forms.Form):
    known_answer_rate = forms.DecimalField(
        min_value=Decimal(0),
        max_value=Decimal("0.5"),
        max_digits=4,
        decimal_places=3,
        label="Known-answer rate",
        help_text="Share of a steward's “next” presses served a known answer (0–0.5).",
    )
    second_review_rate = forms.DecimalField(
        min_value=Decimal(0),
        max_value=Decimal(1),
        max_digits=4,
        decimal_places=3,
        label="Second-review rate",
        help_text="Share of ordinary decisions decided again, blind, by another steward (0–1).",
    )


class ResolveForm(forms.Form):
    take_back = forms.TypedChoiceField(choices=[("0", "keep"), ("1", "take back")], coerce=lambda v: v == "1")
    note = forms.CharField(max_length=2000, required=False)
