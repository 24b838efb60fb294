"""The boxes demo's stacked workflow: the digit detector finds the digits, each box is cut
out and embedded, and the classifier on crops names the digit in it; every box with a label
is written as a suggestion for review (the box, and its label as a region on it)."""

from labeling.models import Project
from training.demo import boxes_demo_crop_classifier, boxes_demo_detector
from workflows.default import stacked_workflow
from workflows.models import Workflow
from workflows.services.workflows import workflow_create

STACKED_DEMO_NAME = "Digits box by box"


def stacked_demo_ensure(*, project: Project, actor) -> tuple[Workflow, bool]:
    """Save the workflow once; a second call returns it."""
    existing = Workflow.objects.filter(project=project, name=STACKED_DEMO_NAME).first()
    if existing is not None:
        return existing, False
    detector = boxes_demo_detector(project)
    classifier = boxes_demo_crop_classifier(project)
    document = stacked_workflow(
        detector={"type": detector.type, "id": detector.id, "version": "live"},
        embedder={"type": "embedder", "version": "live"},
        classifier={"type": classifier.type, "id": classifier.id, "version": "live"},
        box_threshold=0.5,
        label_threshold=0.5,
        status="pending_review",
    )
    workflow = workflow_create(
        project=project,
        name=STACKED_DEMO_NAME,
        document=document,
        actor=actor,
        description=(
            f"{detector.name} -> image cropper -> embedder (of each crop) -> {classifier.name} "
            "-> thresholder -> writer: a digit label on each detected box, for review. Runs "
            "once both models are live."
        ),
    )
    return workflow, True
