from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from labeling.api import inputs, interchange, projects, root, views

urlpatterns = [
    path("", root.api_root_view, name="api_root"),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
    path("me/", views.me_view, name="api_me"),
    path("projects/<id:project_id>/queue/next/", views.queue_next_view, name="api_queue_next"),
    path("projects/<id:project_id>/review/next/", views.review_next_view, name="api_review_next"),
    path(
        "annotations/<id:annotation_id>/decisions/",
        views.decision_create_view,
        name="api_decision_create",
    ),
    path(
        "inputs/<id:input_id>/annotations/",
        views.annotation_create_view,
        name="api_annotation_create",
    ),
    path("projects/", projects.projects_view, name="api_projects"),
    path("projects/<id:project_id>/", projects.project_view, name="api_project"),
    path("projects/<id:project_id>/members/", projects.members_view, name="api_members"),
    path(
        "projects/<id:project_id>/review-settings/",
        projects.review_settings_view,
        name="api_review_settings",
    ),
    path(
        "projects/<id:project_id>/members/<id:member_id>/",
        projects.member_view,
        name="api_member",
    ),
    path("projects/<id:project_id>/concepts/", projects.concepts_view, name="api_concepts"),
    path("concepts/<id:concept_id>/", projects.concept_view, name="api_concept"),
    path(
        "concepts/<id:concept_id>/synonyms/",
        projects.concept_synonyms_view,
        name="api_concept_synonyms",
    ),
    path("concepts/<id:concept_id>/merge/", projects.concept_merge_view, name="api_concept_merge"),
    path("concepts/<id:concept_id>/dictionary/", projects.dictionary_view, name="api_dictionary"),
    path("projects/<id:project_id>/inputs/", inputs.inputs_view, name="api_inputs"),
    path("projects/<id:project_id>/batches/<id:batch_id>/", inputs.batch_view, name="api_batch"),
    path("inputs/<id:input_id>/", inputs.input_view, name="api_input"),
    path("projects/<id:project_id>/exports/", interchange.exports_view, name="api_exports"),
    path("exports/<id:job_id>/", interchange.export_view, name="api_export"),
    path(
        "exports/<id:job_id>/download/",
        interchange.export_download_view,
        name="api_export_download",
    ),
    path("projects/<id:project_id>/imports/", interchange.imports_view, name="api_imports"),
    path("imports/<id:job_id>/", interchange.import_view, name="api_import"),
]
