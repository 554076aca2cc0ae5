"""Forms parse and validate input; services do the writing. One module per area of pages."""

from matches.forms.admin import DomainForm, UserCreateForm
from matches.forms.audit import AuditFilterForm, ErasureForm, ReportFilterForm

__all__ = ["AuditFilterForm", "DomainForm", "ErasureForm", "ReportFilterForm", "UserCreateForm"]
