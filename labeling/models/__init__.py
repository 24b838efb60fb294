"""The labeling domain: projects and roles, taxonomy, visual dictionary, inputs, annotations."""

from labeling.models.annotations import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    AnnotationStatus,
    Region,
)
from labeling.models.inputs import Input, InputStatus, Split, UploadBatch, UploadItem
from labeling.models.interchange import InterchangeJob
from labeling.models.projects import Membership, Project, Role
from labeling.models.queue import AnnotationDraft, QueueSlot, Skip
from labeling.models.review import RejectReason, ReviewDecision, ReviewTier
from labeling.models.taxonomy import (
    Concept,
    ConceptChange,
    ConceptSynonym,
    DictionaryEntry,
    DictionaryExample,
)

__all__ = [
    "Annotation",
    "AnnotationDraft",
    "AnnotationLabel",
    "AnnotationSource",
    "AnnotationStatus",
    "Concept",
    "ConceptChange",
    "ConceptSynonym",
    "DictionaryEntry",
    "DictionaryExample",
    "Input",
    "InputStatus",
    "InterchangeJob",
    "Membership",
    "Project",
    "QueueSlot",
    "Region",
    "RejectReason",
    "ReviewDecision",
    "ReviewTier",
    "Role",
    "Skip",
    "Split",
    "UploadBatch",
    "UploadItem",
]
