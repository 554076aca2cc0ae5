"""Notification forms: a person's choices and an admin's webhook endpoint (parse and validate; services write)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import URLValidator

from matches.models import Domain, NotificationKind


class PreferencesForm(forms.Form):
    """The kinds the person wants by email, out of those their role may choose (a checked box is "email me")."""

    email = forms.MultipleChoiceField(choices=(), required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, kinds: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kinds = kinds
        self.fields["email"].choices = [(kind, NotificationKind(kind).label) for kind in kinds]  # type: ignore[attr-defined]

    def choices(self) -> dict[str, bool]:
        wanted = set(self.cleaned_data.get("email") or [])
        return {kind: kind in wanted for kind in self.kinds}


class WebhookForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
    url = forms.URLField(
        max_length=500,
        assume_scheme="https",
        validators=[URLValidator(schemes=["http", "https"])],
        label="URL",
        help_text="Receives a signed JSON POST for each event.",
    )
    domain = forms.ModelChoiceField(
        queryset=Domain.objects.order_by("name"),
        required=False,
        empty_label="All domains",
        to_field_name="name",
        help_text="Events of this domain only; all domains when empty.",
    )
    kinds = forms.MultipleChoiceField(
        choices=NotificationKind.choices, widget=forms.CheckboxSelectMultiple, label="Events"
    )
    enabled = forms.BooleanField(required=False, initial=True)
