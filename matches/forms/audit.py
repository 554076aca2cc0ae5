"""Filter forms of the audit pages, exports and reports (GET parameters)."""

from __future__ import annotations

import re

from django import forms

from matches.models import PROFILE_ID_RE
from matches.selectors.audit import AuditFilters
from matches.selectors.reports import ReportFilters


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150, label="Actor")
    action = forms.CharField(required=False, max_length=64, label="Action", help_text="prefix, e.g. decision.")
    domain = forms.CharField(required=False, max_length=64)
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    match_id = forms.CharField(required=False, max_length=255, label="Match id")
    profile_id = forms.CharField(required=False, max_length=32, label="Profile id")
    group = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def clean_profile_id(self) -> str:
        value = self.cleaned_data["profile_id"].strip().lower()
        if value and not re.match(PROFILE_ID_RE, value):
            raise forms.ValidationError("A profile id is 32 lowercase hex characters.")
        return value

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("The start date is after the end date.")
        return data

    def filters(self) -> AuditFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return AuditFilters(
            actor=(data.get("actor") or "").strip(),
            action=(data.get("action") or "").strip(),
            domain=(data.get("domain") or "").strip(),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            match_id=(data.get("match_id") or "").strip(),
            profile_id=data.get("profile_id") or "",
            group=data.get("group"),
        )


class ReportFilterForm(forms.Form):
    domain = forms.CharField(required=False, max_length=64)
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def filters(self) -> ReportFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return ReportFilters(
            domain=(data.get("domain") or "").strip(), date_from=data.get("date_from"), date_to=data.get("date_to")
        )


class ErasureForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"placeholder": "e.g. request DSR-2031"}))
    confirm = forms.BooleanField(label="I understand this cannot be undone")
