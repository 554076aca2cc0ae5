from django.urls import path

from matches.views import audit

urlpatterns = [
    path("audit/", audit.audit_list, name="audit_list"),
    path("audit/verify/", audit.audit_verify, name="audit_verify"),
    path("audit/export/events.csv", audit.export_events, name="audit_export_events"),
    path("audit/export/decisions.csv", audit.export_decisions, name="audit_export_decisions"),
    path("audit/reports/", audit.reports, name="audit_reports"),
    path("groups/<int:pk>/history/", audit.group_history, name="group_history"),
    path("profiles/<str:domain>/<str:profile_id>/", audit.profile_timeline, name="profile_timeline"),
    path("profiles/<str:domain>/<str:profile_id>/erase/", audit.profile_erase, name="profile_erase"),
]
