from django.urls import path, register_converter

from labeling.views import (
    account,
    annotate,
    audit,
    dictionary,
    ingest,
    inputs,
    interchange,
    projects,
    quality,
    review,
    taxonomy,
)


class ImageVariantConverter:
    """``<image_variant:name>``: which file of an image a URL serves."""

    regex = "file|thumb"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ImageVariantConverter, "image_variant")

app_name = "labeling"

urlpatterns = [
    path("", projects.project_list, name="project_list"),
    path("projects/new/", projects.project_new, name="project_new"),
    path("projects/<id:project_id>/", projects.project_dashboard, name="dashboard"),
    path("projects/<id:project_id>/settings/", projects.project_settings, name="settings"),
    path("projects/<id:project_id>/members/", projects.project_members, name="members"),
    path(
        "projects/<id:project_id>/members/<id:membership_id>/",
        projects.membership_change,
        name="membership_change",
    ),
    path("projects/<id:project_id>/taxonomy/", taxonomy.taxonomy_page, name="taxonomy"),
    path(
        "projects/<id:project_id>/taxonomy/change/",
        taxonomy.taxonomy_action,
        name="taxonomy_action",
    ),
    path(
        "projects/<id:project_id>/concepts/<id:concept_id>/",
        dictionary.concept_detail,
        name="concept",
    ),
    path("projects/<id:project_id>/upload/", ingest.upload_page, name="upload"),
    path("projects/<id:project_id>/upload/files/", ingest.upload_create, name="upload_create"),
    path("projects/<id:project_id>/uploads/<id:batch_id>/", ingest.batch_detail, name="batch"),
    path("projects/<id:project_id>/label/", annotate.label_page, name="label"),
    path("projects/<id:project_id>/label/undo/", annotate.label_undo, name="label_undo"),
    path("projects/<id:project_id>/label/stats/", annotate.label_stats, name="label_stats"),
    path(
        "projects/<id:project_id>/label/<id:input_id>/",
        annotate.label_submit,
        name="label_submit",
    ),
    path(
        "projects/<id:project_id>/label/<id:input_id>/skip/",
        annotate.label_skip,
        name="label_skip",
    ),
    path("projects/<id:project_id>/mine/", annotate.my_annotations, name="my_annotations"),
    path(
        "projects/<id:project_id>/mine/<id:annotation_id>/",
        annotate.annotation_fix,
        name="annotation_fix",
    ),
    path(
        "projects/<id:project_id>/drafts/<id:draft_id>/",
        annotate.draft_submit,
        name="draft_submit",
    ),
    path("projects/<id:project_id>/inputs/", inputs.input_list, name="inputs"),
    path(
        "projects/<id:project_id>/inputs/<id:input_id>/<image_variant:variant>/",
        inputs.input_image,
        name="input_image",
    ),
    path(
        "projects/<id:project_id>/examples/<id:example_id>/<image_variant:variant>/",
        inputs.example_image,
        name="example_image",
    ),
]

urlpatterns += review.urlpatterns + audit.urlpatterns + quality.urlpatterns + account.urlpatterns
urlpatterns += interchange.urlpatterns
