"""The operators: one module per kind, each a pure function on a batch plus its ``KIND``."""

from collections.abc import Iterable

from workflows.operators import (
    annotation_writer,
    concept_synonym_mapper,
    concept_thresholder,
    image_cropper,
    random_sampler,
    region_thresholder,
    visual_searcher,
)
from workflows.spec import ModelTypePorts, NodeKind, Registry

OPERATORS: tuple[NodeKind, ...] = (
    concept_thresholder.KIND,
    region_thresholder.KIND,
    concept_synonym_mapper.KIND,
    random_sampler.KIND,
    image_cropper.KIND,
    visual_searcher.KIND,
    annotation_writer.KIND,
)


def registry(model_types: Iterable[ModelTypePorts]) -> Registry:
    """Every operator, and the caller's model types."""
    return Registry.of(OPERATORS, model_types)
