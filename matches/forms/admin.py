"""Admin forms: they parse and validate input; services do the writing."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.validators import RegexValidator

from matches import ratelimit, roles
from matches.models import DOMAIN_NAME_RE, ResultsSource

NAME_MESSAGE = "A domain name is 1 to 64 letters, digits, '_' or '-' (AWS's pattern ^[a-zA-Z0-9_-]{1,64}$)."


class RatesField(forms.CharField):
    """Calls per second per operation as `GetMatches=5, S3=100`: a dict in, the same text out."""

    def prepare_value(self, value: object) -> object:
        if isinstance(value, dict):
            return ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
        return value

    def to_python(self, value: object) -> dict[str, int]:  # type: ignore[override]
        text = str(super().to_python(value) or "")
        rates: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in text.replace(";", ",").split(","))):
            name, _, number = part.partition("=")
            name = name.strip()
            if name not in ratelimit.DEFAULT_RATES:
                known = ", ".join(ratelimit.DEFAULT_RATES)
                raise forms.ValidationError(f"Unknown operation {name[:40]!r}: one of {known}.")
            if not number.strip().isdigit() or not 1 <= int(number) <= ratelimit.MAX_RATE:
                raise forms.ValidationError(f"{name}: a whole number of calls per second, 1 to {ratelimit.MAX_RATE}.")
            rates[name] = int(number)
        return rates


class DomainForm(forms.Form):
    name = forms.CharField(max_length=200, validators=[RegexValidator(DOMAIN_NAME_RE, NAME_MESSAGE)])
    region = forms.CharField(max_length=32, initial="us-east-1")
    endpoint_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="Endpoint URL override",
        help_text="Blank: the standard boto3 resolution (honours AWS_ENDPOINT_URL_CUSTOMER_PROFILES).",
    )
    role_arn = forms.CharField(
        max_length=2048, required=False, label="Role to assume", help_text="Optional IAM role ARN; blank: none."
    )
    undo_window_seconds = forms.IntegerField(
        min_value=0, initial=120, label="Undo window (s)", help_text="Approved merges wait this long; 0: run at once."
    )
    merge_rate_per_second = forms.IntegerField(min_value=1, max_value=100, initial=2, label="Merge calls / s")
    enabled = forms.BooleanField(required=False, initial=True)
    blind_review_enforced = forms.BooleanField(required=False, label="Enforce blind review")
    # Four-eyes approval (docs/architecture.md, "Four-eyes approval"): which merges wait for a second person.
    approval_size_above = forms.IntegerField(
        min_value=1,
        max_value=1000,
        required=False,
        label="Second person: groups of more than",
        help_text="Profiles; blank: no size rule.",
    )
    approval_score_below = forms.DecimalField(
        min_value=0,
        max_value=1,
        max_digits=4,
        decimal_places=3,
        required=False,
        label="Second person: scores below",
        help_text="For example 0.900; blank: no score rule.",
    )
    approval_splits = forms.BooleanField(required=False, label="Second person: every split")
    approval_bulk = forms.BooleanField(required=False, label="Second admin: every bulk job")
    approval_all = forms.BooleanField(required=False, label="Second person: every merge, split and bulk job")
    results_source = forms.ChoiceField(
        required=False,  # blank: GetMatches, as before this setting existed
        choices=ResultsSource.choices,
        initial=ResultsSource.GET_MATCHES,
        label="Read results from",
        help_text="S3 export: read the job's ExportingLocation in parallel workers when the job reports one "
        "(otherwise GetMatches).",
    )
    rule_based_pull = forms.BooleanField(
        required=False,
        label="Pull rule-based matches",
        help_text="After GetMatches, page ListRuleBasedMatches too (the domain's RuleBasedMatching must be on).",
    )
    rule_merge_max_level = forms.IntegerField(
        min_value=1,
        max_value=15,
        required=False,
        label="Rule levels to the merge queue",
        help_text="Rule-based groups up to this level wait in merge (1 is the strictest rule); blank: all in review.",
    )
    aws_rates = RatesField(
        required=False,
        max_length=400,
        label="AWS calls / s",
        help_text="Per operation, shared by all workers, e.g. GetMatches=5, BatchGetProfile=10, S3=100; blank: "
        "the defaults (AWS publishes no per-API rates for these operations).",
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["name"].disabled = True

    def clean_role_arn(self) -> str:
        arn = self.cleaned_data["role_arn"].strip()
        if arn and not arn.startswith("arn:"):
            raise forms.ValidationError("A role ARN looks like arn:aws:iam::123456789012:role/matchdesk.")
        return arn

    def clean_results_source(self) -> str:
        return self.cleaned_data.get("results_source") or ResultsSource.GET_MATCHES

    def values(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("name")
        return data


class UserCreateForm(forms.Form):
    username = forms.RegexField(max_length=150, regex=r"^[\w.@+-]+$")
    email = forms.EmailField(required=False)
    password = forms.CharField(min_length=10, widget=forms.PasswordInput, help_text="At least 10 characters.")
    roles = forms.MultipleChoiceField(
        choices=[(r, r) for r in roles.ROLES],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Give the user at least one role: without one they can log in but see nothing."},
    )

    def clean(self) -> dict[str, Any]:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.password_validation import validate_password

        data = super().clean() or {}
        if data.get("password") and data.get("username"):
            candidate = get_user_model()(username=data["username"], email=data.get("email") or "")
            try:
                validate_password(data["password"], user=candidate)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return data

    def clean_username(self) -> str:
        from django.contrib.auth import get_user_model

        name = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=name).exists():
            raise forms.ValidationError("A user with this name exists already.")
        return name


BIGINT_MAX = 2**63 - 1
# ASCII digits only: "²" and "١٢٣" are digits to str.isdigit() (and int() reads the second) but not ids here.
ID_RE = r"^[0-9]{1,18}$"


class QaDrawForm(forms.Form):
    """Draw a QA sample: a percentage of a queue, an optional seed (blank: a random one)."""

    queue = forms.CharField(max_length=16)
    percent = forms.DecimalField(
        max_digits=7,
        decimal_places=2,
        min_value=0,
        max_value=100,
        error_messages={"invalid": "The sample size is a percentage, a number like 2 or 0.5."},
    )
    seed = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=BIGINT_MAX,
        error_messages={
            "invalid": "A seed is a whole number (or blank for a random one).",
            "max_value": f"A seed is at most {BIGINT_MAX:,} (or blank for a random one).",
        },
    )


class BulkForm(forms.Form):
    """The bulk page's select, confirm and run steps: which groups (or all of the queue), and the policy confirmed."""

    scope = forms.ChoiceField(choices=[("selected", "selected"), ("all", "all")], required=False)
    step = forms.ChoiceField(choices=[("confirm", "confirm"), ("run", "run")], required=False)
    policy_id = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=BIGINT_MAX,
        error_messages={"invalid": "The confirmation names no valid policy: open the bulk page again and confirm."},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        raw = self.data.getlist("group") if hasattr(self.data, "getlist") else []
        bad = [value for value in raw if not re.match(ID_RE, value)]
        if bad:
            shown = ", ".join(repr(b[:20]) for b in bad[:3])
            raise forms.ValidationError(f"Group ids are whole numbers; {shown} is not one. Select the groups again.")
        data["groups"] = sorted({int(value) for value in raw})
        data["scope"] = data.get("scope") or "selected"
        if data.get("step") == "run" and not data.get("policy_id") and "policy_id" not in self.errors:
            raise forms.ValidationError("The confirmation names no policy: open the bulk page again and confirm.")
        return data

    def error_text(self) -> str:
        return " ".join(str(e) for errors in self.errors.values() for e in errors)


class AutoMergeScoreForm(forms.Form):
    """A candidate MinAllowedConfidenceScoreForMerging for the auto-merge advisor (AWS's Double0To1)."""

    score = forms.DecimalField(
        max_digits=4,
        decimal_places=3,
        min_value=0,
        max_value=1,
        error_messages={
            "invalid": "The score is a number from 0 to 1, like 0.95.",
            "max_digits": "The score is a number from 0 to 1 with at most three decimals, like 0.955.",
            "max_decimal_places": "The score has at most three decimals, like 0.955.",
            "min_value": "The score is at least 0.",
            "max_value": "The score is at most 1.",
        },
    )
