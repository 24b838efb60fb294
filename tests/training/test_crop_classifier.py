"""A classifier on crops: a context classifier trained on the crops of people's boxes, then
the stacked workflow detector -> cropper -> embedder -> this classifier -> thresholder ->
writer labels each detected box (a child region on the same box) through the one writer."""

import numpy as np
import pytest
from boxes import boxes_fill

from labeling.models import Annotation, AnnotationSource, AnnotationStatus, Region, Split
from labeling.services.annotations import RegionSpec, annotation_create
from labeling.services.taxonomy import concept_create
from training.ml.features import crop_box
from training.models import ModelVersion
from training.selectors import project_layout
from training.services.crops import CropSet, crop_examples, crops_embed
from training.services.embeddings import embeddings_compute
from training.services.versions import model_create, version_head, version_queue, version_train
from workflows.default import stacked_workflow
from workflows.operators.image_cropper import crops_cut
from workflows.ports import Regions
from workflows.services.runs import workflow_run_process, workflow_run_start
from workflows.services.workflows import WorkflowRejected, workflow_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def boxed(project, admin):
    """A box group (zero, one) and 30 photos with digits: 24 boxed (16 train, 8 eval), 6 not."""
    return boxes_fill(project, admin, count=30, boxed=24)


def crop_classifier(project, admin, **params):
    return model_create(
        project=project,
        name="Digits on crops",
        type="context-classifier",
        params={"crops": 1, "steps": 300, **params},
        actor=admin,
    )


def test_each_labeled_box_is_one_example_labeled_with_its_concept(project, boxed):
    concepts, inputs, truth = boxed
    layout = project_layout(project, regions=True)
    assert layout.concept_ids == tuple(c.id for c in concepts)
    assert project_layout(project).width == 0  # whole-input classifiers leave boxes out

    train = crop_examples(project, layout, split=Split.TRAIN)

    train_rows = [i for i in range(24) if i % 3 != 2]
    assert len(train) == sum(len(truth[i][1]) for i in train_rows)
    first = inputs[train_rows[0]]
    boxes, classes = truth[train_rows[0]]
    mine = [k for k, input_id in enumerate(train.input_ids) if input_id == first.id]
    assert np.allclose([train.boxes[k] for k in mine], boxes, atol=1e-6)
    assert [train.labels[train.region_ids[k]] for k in mine] == [
        {concepts[int(c)].id} for c in classes
    ]


def test_a_childs_concept_labels_its_parents_crop(project, admin, boxed):
    concepts, inputs, _ = boxed
    shade = concept_create(project=project, name="shade", actor=admin, scope="regions")
    dark = concept_create(project=project, name="dark", parent=shade, actor=admin)
    annotation = annotation_create(
        project_id=project.id,
        input_id=inputs[0].id,
        source=AnnotationSource.IMPORT,
        status=AnnotationStatus.ACCEPTED,
        concept_ids=[],
        regions=[RegionSpec(concepts[1].id, (0.1, 0.2, 0.3, 0.4))],
    )
    parent = annotation.regions.get()
    Region.objects.create(
        annotation=annotation, concept=dark, x=0.1, y=0.2, w=0.3, h=0.4, parent=parent
    )

    found = crop_examples(
        project, project_layout(project, regions=True), split=Split.TRAIN, input_ids=[inputs[0].id]
    )

    assert found.region_ids == [parent.id]
    assert found.labels == {parent.id: {concepts[1].id, dark.id}}


def test_the_crop_box_is_the_workflow_croppers(project):
    rng = np.random.default_rng(0)
    boxes = rng.uniform(-0.1, 0.9, size=(200, 4))
    boxes[:, 2:] = rng.uniform(0.01, 0.5, size=(200, 2))
    sizes = rng.integers(20, 700, size=(200, 2))
    cut = crops_cut(Regions(np.arange(200), boxes, (1,) * 200), sizes, margin=0.0, min_size=1)
    kept = cut.region_index.tolist()
    assert len(kept) > 150
    for k, i in enumerate(kept):
        assert crop_box(boxes[i], *sizes[i]) == tuple(cut.boxes[k].tolist())


def test_a_classifier_on_crops_learns_the_box_concepts(project, admin, boxed, settings):
    """With the real backbone (16x16 grey pixels cannot tell a light 0 from a light 1 on a
    busy photo): the crops of the boxes, not the photos, are what it learns from."""
    settings.TRAINING_BACKBONE = "efficientnet_lite0"
    concepts, _, _ = boxed
    model = crop_classifier(project, admin)

    version = version_train(version_id=version_queue(model=model, actor=admin).id)

    assert version.status == ModelVersion.Status.READY, version.error
    assert version.layout["concept_ids"] == [c.id for c in concepts]
    train_boxes = len(crop_examples(project, project_layout(project, regions=True), split="train"))
    assert version.counts["train_inputs"] == train_boxes
    assert version.counts["examples"] == "boxes"
    assert version.metrics["macro_f1"] >= 0.9  # zero against one, from crops (1.0 here)
    assert version.promotion["promoted"] is True


def test_a_classifier_on_crops_needs_box_concepts(project, admin):
    concept_create(project=project, name="cat", actor=admin)
    version = version_train(
        version_id=version_queue(model=crop_classifier(project, admin), actor=admin).id
    )
    assert version.status == ModelVersion.Status.FAILED
    assert "no box concepts" in version.error


def test_the_stacked_workflow_labels_each_detected_box(project, admin, boxed, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    concepts, inputs, _ = boxed
    detector = model_create(
        project=project,
        name="Digits detector",
        type="visual-detector",
        params={"image_size": 128, "epochs": 2, "batch_size": 4},
        actor=admin,
    )
    assert version_train(version_id=version_queue(model=detector, actor=admin).id).error == ""
    classifier = crop_classifier(project, admin)
    crops_version = version_train(version_id=version_queue(model=classifier, actor=admin).id)
    document = stacked_workflow(
        detector={"type": "visual-detector", "id": detector.id, "version": "live"},
        embedder={"type": "embedder", "version": "live"},
        classifier={"type": "context-classifier", "id": classifier.id, "version": "live"},
        box_threshold=0.0,
        label_threshold=0.5,
        status="pending_review",
    )
    workflow = workflow_create(
        project=project, name="Digits, box by box", document=document, actor=admin
    )
    unlabeled = [i.id for i in inputs[24:]]
    embeddings_compute(project_id=project.id)  # a run takes the embedded inputs

    run = workflow_run_start(
        workflow_version=workflow.versions.get(), input_ids=unlabeled, actor=admin
    )
    run = workflow_run_process(run_id=run.id)

    assert run.status == "done", run.error
    written = Annotation.objects.filter(
        project=project, source=AnnotationSource.MODEL, input_id__in=unlabeled
    )
    assert written.exists()
    head = version_head(crops_version)
    box_ids = {c.id for c in concepts}
    for annotation in written:
        assert annotation.status == AnnotationStatus.PENDING_REVIEW
        regions = list(annotation.regions.order_by("position", "id"))
        parents = [r for r in regions if r.parent_id is None]
        children = [r for r in regions if r.parent_id is not None]
        assert parents and children
        for child in children:
            parent = child.parent
            assert child.box == parent.box and child.concept_id in box_ids
            # the label is the classifier's score of that very crop, cut and embedded as in
            # training: the crop path of training and of the workflow agree
            crop = CropSet([parent.id], [annotation.input_id], [parent.box], {})
            probs = head.probabilities(crops_embed(crop))[0]
            column = head.layout.column(child.concept_id)
            assert child.confidence == pytest.approx(probs[column], abs=2e-3)
            assert probs[column] >= 0.5

    # a batch where no box passes has no crops: the run writes nothing and does not fail
    document["nodes"][2]["params"]["default_threshold"] = 1.0
    none_pass = workflow_create(
        project=project, name="Nothing passes", document=document, actor=admin
    )
    before = Annotation.objects.count()
    run = workflow_run_start(workflow_version=none_pass.versions.get(), input_ids=unlabeled)
    run = workflow_run_process(run_id=run.id)
    assert run.status == "done", run.error
    assert Annotation.objects.count() == before


def test_a_classifier_on_crops_must_read_crops(project, admin, boxed):
    classifier = crop_classifier(project, admin)
    whole = {
        "nodes": [
            {"id": "input", "type": "input"},
            {
                "id": "embed",
                "type": "model",
                "model": {"type": "embedder"},
                "inputs": [{"node_id": "input"}],
            },
            {
                "id": "classify",
                "type": "model",
                "model": {"type": "context-classifier", "id": classifier.id},
                "inputs": [{"node_id": "embed"}],
            },
        ]
    }
    with pytest.raises(WorkflowRejected, match="classifier on crops: feed it an embedder"):
        workflow_create(project=project, name="Wrong", document=whole, actor=admin)
