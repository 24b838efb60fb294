"""The model pages, in the ``training:`` namespace (included from portal/urls.py)."""

from django.urls import path

from training.views import (
    detector_train,
    image_search_view,
    input_similar,
    loop_progress_view,
    model_new,
    model_run,
    model_settings,
    model_summary_view,
    model_threshold,
    model_train,
    model_version,
    model_version_action,
    models_page,
)

app_name = "training"

urlpatterns = [
    path("projects/<id:project_id>/models/", models_page, name="models"),
    path("projects/<id:project_id>/models/summary/", model_summary_view, name="summary"),
    path("projects/<id:project_id>/models/settings/", model_settings, name="model_settings"),
    path("projects/<id:project_id>/models/train/", model_train, name="model_train"),
    path("projects/<id:project_id>/models/run/", model_run, name="model_run"),
    path(
        "projects/<id:project_id>/detectors/<id:model_id>/train/",
        detector_train,
        name="detector_train",
    ),
    path("projects/<id:project_id>/models/progress/", loop_progress_view, name="loop_progress"),
    path(
        "projects/<id:project_id>/models/versions/<id:number>/",
        model_version,
        name="model_version",
    ),
    path(
        "projects/<id:project_id>/models/versions/<id:number>/threshold/",
        model_threshold,
        name="model_threshold",
    ),
    path(
        "projects/<id:project_id>/models/versions/<id:number>/action/",
        model_version_action,
        name="model_version_action",
    ),
    path("projects/<id:project_id>/models/new/", model_new, name="model_new"),
    path(
        "projects/<id:project_id>/models/<id:model_id>/versions/<id:number>/",
        model_version,
        name="model_version_of",
    ),
    path(
        "projects/<id:project_id>/models/<id:model_id>/versions/<id:number>/threshold/",
        model_threshold,
        name="model_threshold_of",
    ),
    path(
        "projects/<id:project_id>/models/<id:model_id>/versions/<id:number>/action/",
        model_version_action,
        name="model_version_action_of",
    ),
    path(
        "projects/<id:project_id>/inputs/search-by-image/",
        image_search_view,
        name="image_search",
    ),
    path(
        "projects/<id:project_id>/inputs/<id:input_id>/similar/",
        input_similar,
        name="input_similar",
    ),
]
