"""Projects of real digit images (scikit-learn's), labeled as a test needs."""

import numpy as np

from labeling.demo import digit_png
from labeling.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    AnnotationStatus,
    InputStatus,
)
from labeling.services.ingest import input_ingest
from labeling.services.queue import queue_slots_close
from labeling.services.taxonomy import concept_create


def digits_data(classes: int, count: int):
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = np.flatnonzero(digits.target < classes)[:count]
    return digits.data[keep], digits.target[keep]


def label_input(input, concept, *, source=AnnotationSource.IMPORT, author=None) -> Annotation:
    annotation = Annotation.objects.create(
        project=input.project,
        input=input,
        author=author,
        source=source,
        status=AnnotationStatus.ACCEPTED,
    )
    AnnotationLabel.objects.create(annotation=annotation, concept=concept)
    input.status = InputStatus.LABELED
    input.save(update_fields=["status"])
    queue_slots_close(input=input)
    return annotation


def digits_fill(project, admin, *, classes: int, count: int, labeled: float):
    """Add a ``digit`` group with ``classes`` options and ``count`` digit images, the first
    ``labeled`` share of them with accepted labels. Returns (project, concepts, items)."""
    parent = concept_create(project=project, name="digit", exclusive=True, actor=admin)
    concepts = {
        d: concept_create(project=project, name=str(d), parent=parent, actor=admin)
        for d in range(classes)
    }
    items = []
    data, targets = digits_data(classes, count)
    cut = int(len(data) * labeled)
    for index, (pixels, target) in enumerate(zip(data, targets, strict=True)):
        result = input_ingest(project=project, name=f"d{index}.png", data=digit_png(pixels))
        items.append((result.input, int(target)))
        if index < cut:
            label_input(result.input, concepts[int(target)], author=admin)
    return project, concepts, items
