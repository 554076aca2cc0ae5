"""Every URL of Matchdesk, grouped by area of pages (docs/architecture.md, "URLs").

Names are kebab-case, `[area-]object[-action]`: the page of a thing is its noun (`group`, `queue`, `merges`), an
action on it adds a verb (`group-decide`, `merge-undo`), and admin and audit pages carry their area
(`admin-domain-edit`, `audit-verify`). Each name leads to one view; each view calls one service."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from matches.forms import LoginForm
from matches.views import (
    account,
    admin,
    advisor,
    approvals,
    audit,
    bulk,
    groups,
    home,
    merges,
    ops,
    queues,
    search,
    sso,
    thresholds,
)
from matches.views import api as api_views
from matches.views import assignments as assignment_views
from matches.views import quality as quality_views

urlpatterns = [
    path("", home.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True, authentication_form=LoginForm),
        name="login",
    ),
    path("logout/", sso.logout, name="logout"),
    # Review: queues and the group page ------------------------------------------------------------------------------
    path("d/<str:name>/queue/<str:queue>/", queues.queue, name="queue"),
    path("d/<str:name>/queue/<str:queue>/next/", queues.queue_next, name="queue-next"),
    path("review/blind/", queues.blind_review_toggle, name="blind-review-toggle"),
    path("groups/<int:pk>/", groups.page, name="group"),
    path("groups/<int:pk>/decide/", groups.decide, name="group-decide"),
    path("groups/<int:pk>/claim/", groups.claim, name="group-claim"),
    path("groups/<int:pk>/release/", groups.release, name="group-release"),
    path("groups/<int:pk>/comment/", groups.comment, name="group-comment"),
    path("groups/<int:pk>/reopen/", groups.reopen, name="group-reopen"),
    path("decisions/<int:pk>/undo/", groups.decision_undo, name="decision-undo"),
    # The profile the engine missed: search at AWS, add to a group, manual groups ------------------------------------
    path("groups/<int:pk>/search/", search.group_search, name="group-search"),
    path("groups/<int:pk>/add-profile/", search.group_add_profile, name="group-add-profile"),
    path("d/<str:name>/search/", search.domain_search, name="domain-search"),
    path("d/<str:name>/manual-groups/", search.manual_group_create, name="manual-group-create"),
    # Four-eyes approval ---------------------------------------------------------------------------------------------
    path("approvals/", approvals.index, name="approvals"),
    path("approvals/<int:pk>/approve/", approvals.approve, name="approval-approve"),
    path("approvals/<int:pk>/send-back/", approvals.send_back, name="approval-send-back"),
    # Merges ---------------------------------------------------------------------------------------------------------
    path("merges/", merges.index, name="merges"),
    path("merges/<int:pk>/row/", merges.row, name="merge-row"),
    path("merges/<int:pk>/countdown/", merges.countdown, name="merge-countdown"),
    path("merges/<int:pk>/undo/", merges.undo, name="merge-undo"),
    path("merges/<int:pk>/retry/", merges.retry, name="merge-retry"),
    path("merges/pause/<str:name>/", merges.domain_pause, name="merges-pause-domain"),
    path("merges/pause-all/", merges.pause_all, name="merges-pause-all"),
    # Audit ----------------------------------------------------------------------------------------------------------
    path("audit/", audit.index, name="audit"),
    path("audit/verify/", audit.verify, name="audit-verify"),
    path("audit/export/events.csv", audit.export_events, name="audit-export-events"),
    path("audit/export/decisions.csv", audit.export_decisions, name="audit-export-decisions"),
    path("audit/reports/", audit.reports, name="audit-reports"),
    path("groups/<int:pk>/history/", audit.group_history, name="group-history"),
    path("profiles/<str:domain>/<str:profile_id>/", audit.profile_timeline, name="profile-timeline"),
    path("profiles/<str:domain>/<str:profile_id>/erase/", audit.profile_erase, name="profile-erase"),
    # Admin ----------------------------------------------------------------------------------------------------------
    path("admin/domains/", admin.domains, name="admin-domains"),
    path("admin/domains/add/", admin.domain_add, name="admin-domain-add"),
    path("admin/domains/<str:name>/", admin.domain_edit, name="admin-domain-edit"),
    path("admin/domains/<str:name>/test/", admin.domain_test, name="admin-domain-test"),
    path("admin/domains/<str:name>/auto-merging/", advisor.domain_auto_merging, name="admin-domain-auto-merging"),
    path("admin/domains/<str:name>/drift/", advisor.domain_drift, name="admin-domain-drift"),
    path("admin/domains/<str:name>/thresholds/", thresholds.page, name="admin-thresholds"),
    path("admin/domains/<str:name>/thresholds/preview/", thresholds.preview, name="admin-thresholds-preview"),
    path("admin/domains/<str:name>/thresholds/save/", thresholds.save, name="admin-thresholds-save"),
    path("admin/domains/<str:name>/calibration/", thresholds.calibration_draw, name="admin-calibration-draw"),
    path(
        "admin/domains/<str:name>/calibration/<int:pk>/close/",
        thresholds.calibration_close,
        name="admin-calibration-close",
    ),
    path("admin/domains/<str:name>/qa/", admin.qa_draw, name="admin-qa-draw"),
    path("admin/domains/<str:name>/bulk/<str:queue>/", bulk.page, name="admin-bulk"),
    path("admin/bulk/<int:pk>/", bulk.job, name="admin-bulk-job"),
    path("admin/domains/<str:name>/pull/", admin.pull_now, name="admin-pull"),
    path("admin/runs/", admin.runs, name="admin-runs"),
    path("admin/runs/<int:pk>/", admin.run_detail, name="admin-run"),
    path("admin/quarantine/<int:pk>/ack/", admin.quarantine_ack, name="admin-quarantine-ack"),
    path("admin/operations/", admin.operations, name="admin-operations"),
    path("admin/users/", admin.users, name="admin-users"),
    path("admin/users/add/", admin.user_add, name="admin-user-add"),
    path("admin/users/<int:pk>/roles/", admin.user_roles, name="admin-user-roles"),
    path("admin/users/<int:pk>/active/", admin.user_active, name="admin-user-active"),
    # Operations (no login; docs/architecture.md, "Operations") ----------------------------------------------------
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    # The API and its tokens (docs/architecture.md, "API") ------------------------------------------------------------
    path("api/v1/", include((api_views.urlpatterns(), "api"), namespace="api")),
    path("account/tokens/", account.tokens, name="account-tokens"),
    path("account/tokens/<int:pk>/revoke/", account.token_revoke, name="account-token-revoke"),
    path("admin/users/<int:pk>/tokens/", account.user_tokens, name="admin-user-tokens"),
    # Single sign-on and domain access (docs/architecture.md, "Single sign-on and domain access") -------------------
    path("oidc/login/", sso.start, name="oidc-login"),
    path("oidc/callback/", sso.callback, name="oidc-callback"),
    path("admin/users/<int:pk>/domains/", admin.user_domains, name="admin-user-domains"),
    # Assignment and age, reviewer quality (docs/architecture.md, "Assignment and age", "Reviewer quality") -------
    path("my-work/", assignment_views.my_work, name="my-work"),
    path("admin/domains/<str:name>/assignments/", assignment_views.page, name="admin-assignments"),
    path("admin/domains/<str:name>/assignments/add/", assignment_views.add, name="admin-assignment-add"),
    path("admin/domains/<str:name>/deadline/", assignment_views.deadline, name="admin-review-deadline"),
    path("admin/assignments/<int:pk>/close/", assignment_views.close, name="admin-assignment-close"),
    path("judgements/<int:pk>/", quality_views.judgement, name="judgement"),
    path("judgements/<int:pk>/answer/", quality_views.judgement_answer, name="judgement-answer"),
    path("judgements/<int:pk>/resolve/", quality_views.judgement_resolve, name="judgement-resolve"),
    path("quality/disagreements/", quality_views.disagreements, name="quality-disagreements"),
    path("admin/domains/<str:name>/known-answers/", quality_views.known_answers, name="admin-known-answers"),
    path("admin/domains/<str:name>/known-answers/add/", quality_views.known_answer_add, name="admin-known-answer-add"),
    path("admin/domains/<str:name>/quality-rates/", quality_views.quality_rates, name="admin-quality-rates"),
    path("admin/known-answers/<int:pk>/retire/", quality_views.known_answer_retire, name="admin-known-answer-retire"),
    # Earlier addresses of the two pause actions, kept working; pages link to merges-pause-domain/-all.
    path("admin/domains/<str:name>/pause/", merges.domain_pause),
    path("admin/operations/pause-all/", merges.pause_all),
]

# Notifications (docs/architecture.md, "Notifications") ------------------------------------------------------------
from matches.views import notifications  # noqa: E402

urlpatterns += [
    path("account/notifications/", notifications.preferences, name="account-notifications"),
    path("admin/webhooks/", notifications.webhooks, name="admin-webhooks"),
    path("admin/webhooks/<int:pk>/", notifications.webhook, name="admin-webhook"),
    path("admin/webhooks/<int:pk>/rotate/", notifications.webhook_rotate, name="admin-webhook-rotate"),
    path("admin/webhooks/<int:pk>/test/", notifications.webhook_test, name="admin-webhook-test"),
]
