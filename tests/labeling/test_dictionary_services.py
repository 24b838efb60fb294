"""The visual dictionary: every save is a new version; older versions stay as they were."""

import pytest
from factories import InputFactory

from labeling.ingest.images import ImageRejected
from labeling.models import ConceptChange, DictionaryEntry, DictionaryExample
from labeling.services.dictionary import (
    dictionary_current,
    dictionary_entry_save,
    stored_example_image,
)
from labeling.services.errors import ServiceError
from labeling.services.taxonomy import concept_create

pytestmark = pytest.mark.django_db

IDEAL, NOT_IDEAL = DictionaryExample.Kind.IDEAL, DictionaryExample.Kind.NOT_IDEAL


@pytest.fixture
def robin(project, admin):
    return concept_create(project=project, name="Robin", actor=admin)


def examples(entry: DictionaryEntry) -> list[tuple[str, int | None]]:
    return [(e.kind, e.input_id) for e in entry.examples.order_by("position", "id")]


def test_each_save_makes_the_next_version_carrying_text_forward(robin, admin):
    first = dictionary_entry_save(
        concept=robin, actor=admin, definition="Red breast.", is_not="Not a finch."
    )
    second = dictionary_entry_save(concept=robin, actor=admin, definition="Orange-red breast.")
    third = dictionary_entry_save(concept=robin, actor=admin, is_not="Not a chaffinch.")

    assert [first.version, second.version, third.version] == [1, 2, 3]
    assert (second.definition, second.is_not) == ("Orange-red breast.", "Not a finch.")
    assert (third.definition, third.is_not) == ("Orange-red breast.", "Not a chaffinch.")
    assert dictionary_current(robin) == third
    # older versions keep what they said
    first.refresh_from_db()
    assert first.definition == "Red breast."
    assert ConceptChange.objects.filter(concept=robin, action="dictionary").count() == 3


def test_input_examples_are_added_and_carried_into_later_versions(project, robin, admin):
    good, bad = InputFactory(project=project), InputFactory(project=project)

    first = dictionary_entry_save(
        concept=robin, actor=admin, add_inputs=[(IDEAL, good), (NOT_IDEAL, bad)]
    )
    second = dictionary_entry_save(concept=robin, actor=admin, definition="Red breast.")

    assert examples(first) == [(IDEAL, good.id), (NOT_IDEAL, bad.id)]
    assert examples(second) == examples(first)


def test_adding_the_same_input_twice_keeps_one_example(project, robin, admin):
    good = InputFactory(project=project)
    dictionary_entry_save(concept=robin, actor=admin, add_inputs=[(IDEAL, good)])

    entry = dictionary_entry_save(concept=robin, actor=admin, add_inputs=[(IDEAL, good)])

    assert examples(entry) == [(IDEAL, good.id)]


def test_removed_example_is_gone_from_the_new_version_only(project, robin, admin):
    keep, drop = InputFactory(project=project), InputFactory(project=project)
    first = dictionary_entry_save(
        concept=robin, actor=admin, add_inputs=[(IDEAL, keep), (IDEAL, drop)]
    )
    dropped = first.examples.get(input=drop)

    second = dictionary_entry_save(concept=robin, actor=admin, remove_example_ids=[dropped.id])

    assert examples(second) == [(IDEAL, keep.id)]
    assert examples(first) == [(IDEAL, keep.id), (IDEAL, drop.id)]


def test_input_from_another_project_is_refused(robin, admin, other_project):
    foreign = InputFactory(project=other_project)

    with pytest.raises(ServiceError, match="this project's inputs"):
        dictionary_entry_save(concept=robin, actor=admin, add_inputs=[(IDEAL, foreign)])

    assert not robin.dictionary.exists()


def test_unknown_example_kind_is_refused(project, robin, admin):
    with pytest.raises(ServiceError, match="Unknown example kind"):
        dictionary_entry_save(
            concept=robin, actor=admin, add_inputs=[("perfect", InputFactory(project=project))]
        )


def test_uploaded_example_image_is_stored_and_kept_across_versions(
    robin, admin, image_bytes, media_root
):
    data = image_bytes("JPEG", size=(300, 200))

    file, thumbnail = stored_example_image(concept=robin, data=data)
    first = dictionary_entry_save(
        concept=robin, actor=admin, add_images=[(IDEAL, (file, thumbnail))]
    )
    second = dictionary_entry_save(concept=robin, actor=admin, definition="Red breast.")

    assert (media_root / file).read_bytes() == data
    assert (media_root / thumbnail).is_file()
    assert file.startswith(f"projects/{robin.project_id}/dictionary/")
    for entry in (first, second):
        example = entry.examples.get()
        assert (example.kind, example.image, example.thumbnail) == (IDEAL, file, thumbnail)
        assert example.input is None


def test_uploaded_example_that_is_not_an_image_is_refused(robin, media_root):
    with pytest.raises(ImageRejected):
        stored_example_image(concept=robin, data=b"GIF89a not really")

    assert not any(path.is_file() for path in media_root.rglob("*"))
