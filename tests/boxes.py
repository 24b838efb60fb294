"""Projects of synthetic photos with digits boxed (``training.ml.synthetic``), as a test of
boxes, detectors and classifiers on crops needs."""

import io

from labeling.models import AnnotationSource, AnnotationStatus, Input, Split
from labeling.services.annotations import RegionSpec, annotation_create
from labeling.services.ingest import input_ingest
from labeling.services.statuses import inputs_status_refresh
from labeling.services.taxonomy import concept_create
from training.ml.synthetic import make_digits_set


def png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def boxes_fill(project, admin, *, count: int = 30, boxed: int = 24, seed: int = 5):
    """A box group ``digits`` (zero, one) and ``count`` 128x96 photos with digits, every
    third in the eval split; the first ``boxed`` have their digits boxed and accepted.
    Returns (concepts, inputs, truth: per input (boxes, class indexes))."""
    group = concept_create(project=project, name="digits", actor=admin, scope="regions")
    concepts = [
        concept_create(project=project, name=name, parent=group, actor=admin)
        for name in ("zero", "one")
    ]
    data = make_digits_set(count, classes=2, seed=seed, size=(128, 96), digit_size=(32, 44))
    inputs, truth = [], []
    for index, (image, boxes, classes) in enumerate(
        zip(data.images, data.boxes, data.classes, strict=True)
    ):
        input = input_ingest(project=project, name=f"c{index}.png", data=png(image)).input
        Input.objects.filter(id=input.id).update(
            split=Split.EVAL if index % 3 == 2 else Split.TRAIN
        )
        inputs.append(input)
        truth.append((boxes, classes))
        if index >= boxed:
            continue
        annotation_create(
            project_id=project.id,
            input_id=input.id,
            source=AnnotationSource.IMPORT,
            status=AnnotationStatus.ACCEPTED,
            concept_ids=[],
            regions=[
                RegionSpec(concepts[int(k)].id, tuple(float(v) for v in box))
                for box, k in zip(boxes, classes, strict=True)
            ],
        )
    inputs_status_refresh(input_ids=[i.id for i in inputs])
    return concepts, inputs, truth
