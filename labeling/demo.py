"""The demo project: scikit-learn's handwritten digits (1,797 real 8x8 images, 10 classes)."""

import io
import logging

from django.db import transaction
from PIL import Image

from labeling.models import (
    AnnotationSource,
    AnnotationStatus,
    Concept,
    DictionaryExample,
    Project,
)
from labeling.services.annotations import annotation_create
from labeling.services.dictionary import dictionary_entry_save
from labeling.services.ingest import input_ingest
from labeling.services.projects import project_create
from labeling.services.queue import queue_slots_close
from labeling.services.statuses import input_status_refresh
from labeling.services.taxonomy import concept_create, concept_synonym_add

logger = logging.getLogger(__name__)

DEMO_NAME = "Handwritten digits (demo)"
LABELED_EVERY = 7  # one image in seven comes with an accepted label, so the loop can start
# Digits people (and models) confuse, used as not-ideal examples.
CONFUSED_WITH = {0: 6, 1: 7, 2: 3, 3: 8, 4: 9, 5: 6, 6: 5, 7: 1, 8: 3, 9: 4}
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SHAPES = {
    0: "a closed oval, taller than wide, with an empty middle",
    1: "a single vertical stroke, sometimes with a short flag at the top",
    2: "a curved top, a diagonal down to the left and a flat base",
    3: "two bumps open to the left, stacked",
    4: "a vertical and a diagonal meeting a horizontal bar; open or closed top",
    5: "a flat top bar, a short vertical, then a bowl open to the left",
    6: "a curve down into a closed loop at the bottom",
    7: "a flat top bar and a long stroke down to the left",
    8: "two closed loops stacked, the top one often smaller",
    9: "a closed loop at the top with a stroke down from its right side",
}


def digit_png(pixels) -> bytes:
    """An 8x8 grayscale PNG, dark ink on white, from the 0..16 intensities of the data set."""
    image = Image.new("L", (8, 8))
    image.putdata([255 - round(float(v) * 255 / 16) for v in pixels])
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def demo_project_load(*, admin) -> tuple[Project, bool]:
    """Load the demo project once; a second call returns the existing one."""
    existing = Project.objects.filter(name=DEMO_NAME).first()
    if existing is not None:
        return existing, False
    from sklearn.datasets import load_digits  # the data ships inside scikit-learn

    digits = load_digits()
    with transaction.atomic():
        project = project_create(
            name=DEMO_NAME,
            created_by=admin,
            description=(
                "1,797 handwritten digits from scikit-learn (8x8 pixels, shown enlarged). "
                "Label each image with the digit it shows."
            ),
        )
        project.guidelines = (
            "Pick the digit the writer meant. If two digits seem possible, pick the likelier "
            "and skip only when nothing is readable."
        )
        project.save(update_fields=["guidelines"])
        concepts = _taxonomy(project, admin)
        inputs_by_digit: dict[int, list] = {d: [] for d in range(10)}
        for index, (pixels, target) in enumerate(zip(digits.data, digits.target, strict=True)):
            result = input_ingest(
                project=project,
                name=f"digit_{index:04d}.png",
                data=digit_png(pixels),
                metadata={"source": "scikit-learn digits", "index": str(index)},
            )
            inputs_by_digit[int(target)].append(result.input)
            if index % LABELED_EVERY == 0 and result.created:
                _accepted_label(project, admin, result.input, concepts[int(target)])
        _dictionary(concepts, inputs_by_digit, admin)
    return project, True


def _taxonomy(project: Project, admin) -> dict[int, Concept]:
    parent = concept_create(project=project, name="digit", exclusive=True, actor=admin)
    dictionary_entry_save(
        concept=parent,
        actor=admin,
        definition="The single digit, 0 to 9, that the image shows.",
        is_not="Letters, several digits, or an empty scribble.",
    )
    concepts = {}
    for digit in range(10):
        concept = concept_create(project=project, name=str(digit), parent=parent, actor=admin)
        concept_synonym_add(concept=concept, name=WORDS[digit], actor=admin)
        concepts[digit] = concept
    return concepts


def _accepted_label(project: Project, admin, input, concept: Concept) -> None:
    annotation_create(
        project_id=project.id,
        input_id=input.id,
        source=AnnotationSource.IMPORT,
        status=AnnotationStatus.ACCEPTED,
        concept_ids=[concept.id],
        author=admin,
    )
    queue_slots_close(input=input)
    input_status_refresh(input=input)


def _dictionary(concepts: dict[int, Concept], inputs_by_digit: dict[int, list], admin) -> None:
    for digit, concept in concepts.items():
        confused = CONFUSED_WITH[digit]
        ideal = [(DictionaryExample.Kind.IDEAL, i) for i in inputs_by_digit[digit][:3]]
        not_ideal = [(DictionaryExample.Kind.NOT_IDEAL, i) for i in inputs_by_digit[confused][:2]]
        dictionary_entry_save(
            concept=concept,
            actor=admin,
            definition=f"The digit {digit} ({WORDS[digit]}): {SHAPES[digit]}.",
            is_not=(
                f"Not a {confused}: a {confused} is {SHAPES[confused]}. "
                "Not a blank or unreadable image (skip those)."
            ),
            add_inputs=ideal + not_ideal,
        )
