"""The Webhooks pages (namespace ``webhooks``) and the webhook API, which keeps its paths and
names under /api/v1/ (portal/urls.py mounts both)."""

from django.urls import path

from webhooks import api, views

app_name = "webhooks"

urlpatterns = [
    path("projects/<id:project_id>/webhooks/", views.webhooks_page, name="list"),
    path(
        "projects/<id:project_id>/webhooks/<id:webhook_id>/remove/",
        views.webhook_remove,
        name="remove",
    ),
]

api_urlpatterns = [
    path("projects/<id:project_id>/webhooks/", api.webhooks_view, name="api_webhooks"),
    path("webhooks/<id:webhook_id>/", api.webhook_view, name="api_webhook"),
    path(
        "webhooks/<id:webhook_id>/deliveries/",
        api.webhook_deliveries_view,
        name="api_webhook_deliveries",
    ),
]
