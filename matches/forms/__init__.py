"""Forms parse and validate input; services do the writing. One module per area of pages."""

from matches.forms.admin import AutoMergeScoreForm, BulkForm, DomainForm, QaDrawForm, UserCreateForm
from matches.forms.audit import AuditFilterForm, ErasureForm, ReportFilterForm
from matches.forms.auth import LoginForm

__all__ = [
    "AuditFilterForm",
    "AutoMergeScoreForm",
    "BulkForm",
    "DomainForm",
    "ErasureForm",
    "LoginForm",
    "QaDrawForm",
    "ReportFilterForm",
    "UserCreateForm",
]
