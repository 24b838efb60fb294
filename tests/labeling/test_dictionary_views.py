"""The visual dictionary form: a refused save keeps what the admin typed, beside the error."""

import pytest
from factories import InputFactory

from labeling.services.taxonomy import concept_create

pytestmark = pytest.mark.django_db


def test_a_refused_form_keeps_the_typed_ids_and_text_with_the_error(client, project, admin):
    concept = concept_create(project=project, name="Robin", actor=admin)
    known = InputFactory(project=project)
    client.force_login(admin)

    response = client.post(
        f"/projects/{project.id}/concepts/{concept.id}/",
        {
            "definition": "A small bird with a red breast.",
            "is_not": "",
            "add_input_ideal": f"{known.id} 999999",
            "add_input_not_ideal": "7x",
        },
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "Input 999999 is not in this project." in page
    # then the ids and the text the admin typed are still in the form
    assert f'value="{known.id} 999999"' in page
    assert 'value="7x"' in page
    assert "A small bird with a red breast." in page
