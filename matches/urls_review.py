from django.urls import path

from matches.views import review

urlpatterns = [
    path("d/<str:name>/queue/<str:queue>/", review.queue, name="queue"),
    path("d/<str:name>/queue/<str:queue>/next/", review.queue_next, name="queue-next"),
    path("groups/<int:pk>/", review.group_page, name="group"),
    path("groups/<int:pk>/decide/", review.group_decide, name="group-decide"),
    path("groups/<int:pk>/claim/", review.group_claim_view, name="group-claim"),
    path("groups/<int:pk>/release/", review.group_release_view, name="group-release"),
    path("groups/<int:pk>/comment/", review.group_comment, name="group-comment"),
    path("groups/<int:pk>/reopen/", review.group_reopen_view, name="group-reopen"),
    path("decisions/<int:pk>/undo/", review.decision_undo_view, name="decision-undo"),
    path("review/blind/", review.blind_review_toggle, name="blind-review"),
]
