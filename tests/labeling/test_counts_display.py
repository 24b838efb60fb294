"""Big counts on the labeling pages are written with a thousands separator."""

import pytest
from factories import InputFactory

from labeling.models import Input

pytestmark = pytest.mark.django_db


@pytest.fixture
def big_project(project):
    """A project with 1,797 inputs (the digits data set's size)."""
    Input.objects.bulk_create(InputFactory.build_batch(1797, project=project))
    return project


def test_the_project_list_and_inputs_page_write_1797_as_1_797(client, admin, big_project):
    client.force_login(admin)

    projects = client.get("/").content.decode()
    inputs = client.get(f"/projects/{big_project.id}/inputs/").content.decode()

    assert '<strong class="input-count">1,797</strong>' in projects
    assert "1,797 inputs" in inputs
    assert "1797" not in projects


def test_an_empty_search_says_no_inputs_match_with_the_query(client, admin, big_project):
    client.force_login(admin)

    page = client.get(f"/projects/{big_project.id}/inputs/?q=brick").content.decode()

    assert "No inputs match “brick”." in page
    assert "No inputs yet." not in page
