"""Forms of the search panel and manual groups (docs/architecture.md, "Search and manual groups")."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from matches.models import PROFILE_ID_RE

# SearchProfiles' predefined keys a steward searches by (matches/aws.py SEARCH_KEYS), in words.
KEYS = [
    ("_email", "Email"),
    ("_phone", "Phone"),
    ("_fullName", "Full name"),
    ("_account", "Account number"),
    ("_profileId", "Profile id"),
]
MANUAL_MAX = 20  # AWS: BatchGetProfile and MergeProfiles take 20 ids a call
REASON_MAX = 2000


def _profile_id(value: Any) -> str:
    text = str(value or "").strip().lower()
    if not re.match(PROFILE_ID_RE, text):
        raise forms.ValidationError("A profile id is 32 lowercase hex characters.")
    return text


class SearchForm(forms.Form):
    key = forms.ChoiceField(choices=KEYS, label="Search by", initial="_email")
    value = forms.CharField(
        max_length=255,
        label="Value",
        widget=forms.TextInput(attrs={"size": 28, "data-key": "f", "placeholder": "email, phone, name, account or id"}),
    )

    def clean_value(self) -> str:
        value = self.cleaned_data["value"].strip()
        if not value:
            raise forms.ValidationError("Type what to search for.")
        if self.cleaned_data.get("key") == "_profileId":
            return _profile_id(value)
        return value


class AddProfileForm(forms.Form):
    profile_id = forms.CharField(max_length=32, widget=forms.HiddenInput)
    reason = forms.CharField(max_length=REASON_MAX, required=False)

    def clean_profile_id(self) -> str:
        return _profile_id(self.cleaned_data["profile_id"])


class ManualGroupForm(forms.Form):
    """Two to twenty profile ids (checkboxes named `profile_ids`) and an optional reason. Refused, never cut."""

    reason = forms.CharField(max_length=REASON_MAX, required=False)

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(data, *args, **kwargs)
        self.profile_ids: list[str] = []

    def clean(self) -> dict:
        data = super().clean() or {}
        raw = self.data.getlist("profile_ids") if hasattr(self.data, "getlist") else []
        try:
            ids = sorted({_profile_id(v) for v in raw})
        except forms.ValidationError:
            raise forms.ValidationError("A profile id is 32 lowercase hex characters.") from None
        if len(ids) < 2:
            raise forms.ValidationError("Choose at least two profiles for a manual group.")
        if len(ids) > MANUAL_MAX:
            raise forms.ValidationError(
                f"A manual group holds at most {MANUAL_MAX} profiles ({len(ids)} chosen): AWS checks and merges "
                f"{MANUAL_MAX} ids a call. Choose fewer."
            )
        self.profile_ids = ids
        return data
