from django.urls import path

from workflows import api

urlpatterns = [
    path("workflows/kinds/", api.node_kinds_view, name="api_workflow_kinds"),
    path("projects/<id:project_id>/workflows/", api.workflows_view, name="api_workflows"),
    path(
        "projects/<id:project_id>/workflows/validate/",
        api.workflows_validate_view,
        name="api_workflows_validate",
    ),
    path("workflows/<id:workflow_id>/", api.workflow_view, name="api_workflow"),
    path(
        "workflows/<id:workflow_id>/validate/",
        api.workflow_validate_view,
        name="api_workflow_validate",
    ),
    path("workflows/<id:workflow_id>/runs/", api.workflow_runs_view, name="api_workflow_runs"),
    path(
        "workflows/<id:workflow_id>/results/",
        api.workflow_results_view,
        name="api_workflow_results",
    ),
    path("workflows/runs/<id:run_id>/", api.workflow_run_view, name="api_workflow_run"),
]
