from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from labeling.views.account import InviteAcceptView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "invite/<uidb64>/<token>/",
        InviteAcceptView.as_view(),
        name="invite_accept",
    ),
    path("api/v1/", include("labeling.api.urls")),
    path("api/v1/", include("workflows.api_urls")),
    path("", include("workflows.urls")),
    path("", include("labeling.urls")),
]
