"""The Export page (export and import jobs, download)."""

import pytest
from django.urls import reverse

from labeling.models import InterchangeJob
from labeling.services.ingest import input_ingest
from labeling.services.interchange import interchange_job_run
from labeling.services.taxonomy import concept_create

pytestmark = pytest.mark.django_db


def url(name, project, **kwargs):
    return reverse(f"labeling:{name}", kwargs={"project_id": project.id, **kwargs})


@pytest.fixture
def labeled(project, admin, image_bytes):
    concept_create(project=project, name="robin", actor=admin)
    return input_ingest(project=project, name="robin.png", data=image_bytes()).input


def test_outsiders_get_404_and_annotators_403(client, project, outsider, annotator):
    pages = [url("exchange", project), url("exchange_jobs", project)]
    client.force_login(outsider)
    assert {client.get(p).status_code for p in pages} == {404}
    client.force_login(annotator)
    assert {client.get(p).status_code for p in pages} == {403}
    assert client.post(url("exchange", project), {"action": "export"}).status_code == 403


def test_admin_exports_then_downloads_the_file(client, project, admin, labeled):
    client.force_login(admin)

    client.post(url("exchange", project), {"action": "export", "format": "csv"})
    job = InterchangeJob.objects.get(project=project)
    interchange_job_run(job_id=job.id)
    page = client.get(url("exchange", project)).content.decode()
    download = client.get(url("exchange_download", project, job_id=job.id))

    assert "Download" in page
    assert download.status_code == 200
    assert b"robin.png" in b"".join(download.streaming_content)


def test_the_export_form_passes_its_label_options(client, project, admin, labeled):
    client.force_login(admin)

    client.post(url("exchange", project), {"action": "export", "format": "coco"})
    client.post(
        url("exchange", project),
        {
            "action": "export",
            "format": "coco",
            "include_suggestions": "1",
            "automatic_labels": "no",
        },
    )

    default, chosen = InterchangeJob.objects.filter(project=project).order_by("id")
    assert (default.options["statuses"], default.options["automatic_labels"]) == (
        ["accepted"],
        True,
    )
    assert (chosen.options["statuses"], chosen.options["automatic_labels"]) == (
        ["accepted", "pending_review"],
        False,
    )


def test_an_unfinished_or_foreign_export_is_not_downloadable(
    client, project, admin, labeled, other_project
):
    client.force_login(admin)
    client.post(url("exchange", project), {"action": "export", "format": "coco"})
    job = InterchangeJob.objects.get(project=project)

    early = client.get(url("exchange_download", project, job_id=job.id))
    foreign = client.get(url("exchange_download", other_project, job_id=job.id))

    assert early.status_code == 404
    assert foreign.status_code == 404


def test_an_import_without_a_file_says_so(client, project, admin):
    client.force_login(admin)

    response = client.post(
        url("exchange", project), {"action": "import", "format": "csv"}, follow=True
    )

    assert "Choose the file to import." in response.content.decode()
    assert not InterchangeJob.objects.exists()
