from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from labeling.api import views

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
    path("me/", views.me_view, name="api_me"),
    path("projects/<int:project_id>/queue/next/", views.queue_next_view, name="api_queue_next"),
    path("projects/<int:project_id>/review/next/", views.review_next_view, name="api_review_next"),
    path(
        "annotations/<int:annotation_id>/decisions/",
        views.decision_create_view,
        name="api_decision_create",
    ),
    path(
        "inputs/<int:input_id>/annotations/",
        views.annotation_create_view,
        name="api_annotation_create",
    ),
]
