from django.urls import path

from workflows import views

app_name = "workflows"

urlpatterns = [
    path("projects/<id:project_id>/workflows/", views.workflow_list_view, name="list"),
    path(
        "projects/<id:project_id>/workflows/<id:workflow_id>/",
        views.workflow_detail_view,
        name="detail",
    ),
    path(
        "projects/<id:project_id>/workflows/<id:workflow_id>/run/",
        views.workflow_run_view,
        name="run",
    ),
    path(
        "projects/<id:project_id>/workflows/<id:workflow_id>/runs/<id:run_id>/",
        views.workflow_run_progress_view,
        name="run_progress",
    ),
]
