from django.urls import path

from matches.views import admin as v

urlpatterns = [
    path("admin/domains/", v.domains, name="admin_domains"),
    path("admin/domains/add/", v.domain_add, name="admin_domain_add"),
    path("admin/domains/<str:name>/", v.domain_edit, name="admin_domain_edit"),
    path("admin/domains/<str:name>/test/", v.domain_test, name="admin_domain_test"),
    path("admin/domains/<str:name>/thresholds/", v.thresholds_page, name="admin_thresholds"),
    path("admin/domains/<str:name>/thresholds/preview/", v.thresholds_preview, name="admin_thresholds_preview"),
    path("admin/domains/<str:name>/thresholds/save/", v.thresholds_save, name="admin_thresholds_save"),
    path("admin/domains/<str:name>/qa/", v.qa_draw, name="admin_qa_draw"),
    path("admin/domains/<str:name>/bulk/<str:queue>/", v.bulk_page, name="admin_bulk"),
    path("admin/domains/<str:name>/pull/", v.pull_now, name="admin_pull"),
    path("admin/domains/<str:name>/pause/", v.domain_pause, name="admin_domain_pause"),
    path("admin/bulk/<int:pk>/", v.bulk_job, name="admin_bulk_job"),
    path("admin/runs/", v.runs, name="admin_runs"),
    path("admin/runs/<int:pk>/", v.run_detail, name="admin_run"),
    path("admin/quarantine/<int:pk>/ack/", v.quarantine_ack, name="admin_quarantine_ack"),
    path("admin/operations/", v.operations, name="admin_operations"),
    path("admin/operations/pause-all/", v.pause_all, name="admin_pause_all"),
    path("admin/users/", v.users, name="admin_users"),
    path("admin/users/add/", v.user_add, name="admin_user_add"),
    path("admin/users/<int:pk>/roles/", v.user_roles, name="admin_user_roles"),
    path("admin/users/<int:pk>/active/", v.user_active, name="admin_user_active"),
]
