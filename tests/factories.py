"""factory_boy factories for the labeling models.

Projects go through ``project_create`` so that every project has the admin the service
guarantees; the other rows are plain model factories.
"""

import hashlib
import io

import factory
from django.contrib.auth import get_user_model
from PIL import Image

from labeling.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    AnnotationStatus,
    Concept,
    Input,
    InputStatus,
    Membership,
    Project,
    Role,
    Split,
)
from labeling.services.projects import project_create

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password(PASSWORD)


class ProjectFactory(factory.django.DjangoModelFactory):
    """A project made by ``project_create``, so its creator is its admin."""

    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    created_by = factory.SubFactory(UserFactory)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return project_create(**kwargs)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ANNOTATOR


class ConceptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Concept

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Concept {n}")
    key = factory.Sequence(lambda n: f"concept_{n}")


class InputFactory(factory.django.DjangoModelFactory):
    """An input row without files on disk, for tests that only need the row."""

    class Meta:
        model = Input

    project = factory.SubFactory(ProjectFactory)
    sha256 = factory.Sequence(lambda n: hashlib.sha256(f"input {n}".encode()).hexdigest())
    original_name = factory.Sequence(lambda n: f"image{n}.png")
    file = factory.LazyAttribute(lambda i: f"projects/x/originals/{i.sha256}.png")
    thumbnail = factory.LazyAttribute(lambda i: f"projects/x/thumbs/{i.sha256}.png")
    format = "PNG"
    width = 16
    height = 16
    byte_size = 100
    split = Split.TRAIN
    status = InputStatus.UNLABELED


class AnnotationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Annotation

    input = factory.SubFactory(InputFactory)
    project = factory.SelfAttribute("input.project")
    source = AnnotationSource.HUMAN
    status = AnnotationStatus.ACCEPTED


def annotation_with_labels(
    *, input: Input, concepts: list[Concept], status: str = AnnotationStatus.ACCEPTED
) -> Annotation:
    """An annotation of ``input`` carrying one label per concept."""
    annotation = AnnotationFactory(input=input, status=status)
    for concept in concepts:
        AnnotationLabel.objects.create(annotation=annotation, concept=concept)
    return annotation


def make_image_bytes(
    fmt: str = "PNG",
    size: tuple[int, int] = (16, 16),
    color: tuple[int, int, int] = (200, 40, 40),
    *,
    noise: bool = False,
) -> bytes:
    """A real image file in memory. ``noise`` makes one that does not compress to nothing."""
    if noise:
        image = Image.merge("RGB", [Image.effect_noise(size, 80)] * 3)
    else:
        image = Image.new("RGB", size, color)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()
