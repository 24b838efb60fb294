"""The one annotation writer's bulk path carries a model's boxes, parents before children."""

import pytest
from factories import InputFactory

from labeling.models import Annotation, Region
from labeling.services.annotations import ModelRow, annotations_bulk_insert
from labeling.services.taxonomy import concept_create

pytestmark = pytest.mark.django_db


def test_bulk_rows_write_their_boxes_and_children(project, admin):
    objects = concept_create(project=project, name="objects", actor=admin, scope="regions")
    face = concept_create(project=project, name="face", parent=objects, actor=admin)
    mask = concept_create(project=project, name="mask", parent=objects, actor=admin)
    first, second = InputFactory(project=project), InputFactory(project=project)
    rows = [
        ModelRow(
            input_id=first.id,
            status="accepted",
            review_tier=0,
            band="auto",
            provenance={"model": "Detector"},
            labels=[],
            regions=[
                (face.id, (0.1, 0.1, 0.2, 0.2), 0.9, None),
                (mask.id, (0.1, 0.1, 0.2, 0.2), 0.97, 0),
                (face.id, (0.5, 0.5, 0.3, 0.3), 0.8, None),
            ],
        ),
        ModelRow(
            input_id=second.id,
            status="pending_review",
            review_tier=1,
            band="doubt",
            provenance={},
            labels=[],
            regions=[(face.id, (0.0, 0.0, 1.0, 1.0), 0.6, None)],
        ),
    ]

    annotations_bulk_insert(project_id=project.id, version_id=None, rows=rows)

    annotation = Annotation.objects.get(input=first)
    regions = list(annotation.regions.order_by("position"))
    assert [(r.concept_id, r.confidence, r.position) for r in regions] == [
        (face.id, 0.9, 0),
        (mask.id, 0.97, 1),
        (face.id, 0.8, 2),
    ]
    assert regions[1].parent_id == regions[0].id
    assert regions[0].box == pytest.approx((0.1, 0.1, 0.2, 0.2))
    assert Region.objects.get(annotation__input=second).box == (0.0, 0.0, 1.0, 1.0)
