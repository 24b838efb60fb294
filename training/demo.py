"""The second demo project: boxes. Digits pasted at random places and scales onto
scikit-image's sample photos (``training.ml.synthetic``: packaged data only, boxes known), a
box group ``digit`` (zero, one, two), the first images boxed and accepted, and a
visual detector queued to train on them; once live it routes the rest through its
workflow ("Boxes by Digit detector"). A classifier on crops ("Digit on crops") learns the
digits from the crops of the same boxes, for the stacked workflow detector -> cropper ->
classifier the workflows app saves beside it (``workflows/management/commands/
demo_stacked_load.py``)."""

import io

from django.db import transaction

from labeling.models import AnnotationSource, AnnotationStatus, Project
from labeling.services.annotations import RegionSpec, annotation_create
from labeling.services.ingest import input_ingest
from labeling.services.projects import project_create
from labeling.services.statuses import inputs_status_refresh
from labeling.services.taxonomy import concept_create
from training.ml.synthetic import make_digits_set
from training.models import MLModel
from training.services.versions import model_create

BOXES_DEMO_NAME = "Demo: digits on photos (boxes)"
NAMES = ("zero", "one", "two")
CROPS_MODEL = "Digit on crops"


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def boxes_demo_load(*, admin, count: int = 240, boxed: float = 0.6) -> tuple[Project, bool]:
    """Load the boxes demo once (``count`` images, the first ``boxed`` share boxed); a
    second call returns the existing project."""
    existing = Project.objects.filter(name=BOXES_DEMO_NAME).first()
    if existing is not None:
        return existing, False
    data = make_digits_set(count, classes=len(NAMES), seed=11)
    with transaction.atomic():
        project = project_create(
            name=BOXES_DEMO_NAME,
            created_by=admin,
            description=(
                f"{count} photos with handwritten digits 0, 1 and 2 pasted on them (scikit-learn "
                "digits on scikit-image's sample photos). Draw a box around each digit."
            ),
        )
        group = concept_create(project=project, name="digit", actor=admin, scope="regions")
        concepts = [
            concept_create(project=project, name=name, parent=group, actor=admin) for name in NAMES
        ]
        ids = []
        for index, (image, boxes, classes) in enumerate(
            zip(data.images, data.boxes, data.classes, strict=True)
        ):
            result = input_ingest(
                project=project,
                name=f"photo_{index:04d}.png",
                data=_png(image),
                metadata={"source": "synthetic digits on photos", "index": str(index)},
            )
            ids.append(result.input.id)
            if index >= count * boxed or not result.created:
                continue
            annotation_create(
                project_id=project.id,
                input_id=result.input.id,
                source=AnnotationSource.IMPORT,
                status=AnnotationStatus.ACCEPTED,
                concept_ids=[],
                regions=[
                    RegionSpec(concepts[int(k)].id, tuple(float(v) for v in box))
                    for box, k in zip(boxes, classes, strict=True)
                ],
            )
        inputs_status_refresh(input_ids=ids)
        # smaller images, smaller batches: more optimisation steps on the demo's ~115 train
        # photos in about the same time (the defaults' ~180 steps reached mAP@0.5 0.1; these
        # reached 0.86 on 161 train photos in tests/integration/test_detector_worker.py)
        model_create(
            project=project,
            name="Digit detector",
            type="visual-detector",
            params={"image_size": 256, "epochs": 15, "batch_size": 4},
            actor=admin,
        )
        model_create(
            project=project,
            name=CROPS_MODEL,
            type="context-classifier",
            params={"crops": 1},
            actor=admin,
        )
    return project, True


def boxes_demo_detector(project: Project) -> MLModel:
    return MLModel.objects.get(project=project, name="Digit detector")


def boxes_demo_crop_classifier(project: Project) -> MLModel:
    return MLModel.objects.get(project=project, name=CROPS_MODEL)
