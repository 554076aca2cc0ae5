"""Admin forms: they parse and validate input; services do the writing."""

from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator

from matches import roles
from matches.models import DOMAIN_NAME_RE

NAME_MESSAGE = "A domain name is 1 to 64 letters, digits, '_' or '-' (AWS's pattern ^[a-zA-Z0-9_-]{1,64}$)."


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

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["name"].disabled = True

    def clean_role_arn(self) -> str:
        arn = self.cleaned_data["role_arn"].strip()
        if arn and not arn.startswith("arn:"):
            raise forms.ValidationError("A role ARN looks like arn:aws:iam::123456789012:role/matchdesk.")
        return arn

    def values(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("name")
        return data


class UserCreateForm(forms.Form):
    username = forms.RegexField(max_length=150, regex=r"^[\w.@+-]+$")
    email = forms.EmailField(required=False)
    password = forms.CharField(min_length=10, widget=forms.PasswordInput, help_text="At least 10 characters.")
    roles = forms.MultipleChoiceField(
        choices=[(r, r) for r in roles.ROLES], required=False, widget=forms.CheckboxSelectMultiple
    )

    def clean_username(self) -> str:
        from django.contrib.auth import get_user_model

        name = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=name).exists():
            raise forms.ValidationError("A user with this name exists already.")
        return name
