from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from labeling.views.account import InviteAcceptView
from webhooks.urls import api_urlpatterns as webhooks_api

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
    path("api/v1/", include("training.api_urls")),
    path("api/v1/", include(webhooks_api)),
    path("", include("webhooks.urls")),
    path("api/v1/", include("workflows.api_urls")),
    path("", include("workflows.urls")),
    path("", include("labeling.urls")),
    path("", include("training.urls")),
    # Browsers ask for /favicon.ico on pages that link no icon (API JSON, downloads).
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.svg"), permanent=True)),
]
