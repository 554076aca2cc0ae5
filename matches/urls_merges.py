from django.urls import path

from matches.views import merges

urlpatterns = [
    path("merges/", merges.merges_list, name="merges"),
    path("merges/<int:pk>/row/", merges.merge_job_row, name="merge-row"),
    path("merges/<int:pk>/countdown/", merges.merge_job_countdown, name="merge-countdown"),
    path("merges/<int:pk>/undo/", merges.merge_job_undo, name="merge-undo"),
    path("merges/<int:pk>/retry/", merges.merge_job_retry_view, name="merge-retry"),
    path("merges/pause/<str:name>/", merges.merges_pause_domain, name="merges-pause-domain"),
    path("merges/pause-all/", merges.merges_pause_all, name="merges-pause-all"),
]
