from django.contrib.auth import views as auth_views
from django.urls import include, path

from matches.views import home

urlpatterns = [
    path("", home.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("matches.urls_review")),
    path("", include("matches.urls_audit")),
    path("", include("matches.urls_merges")),
    path("", include("matches.urls_admin")),
]
