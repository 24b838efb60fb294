"""Eight reviewers on two tiers drain 2,000 pending annotations at once, each thread on its
own database connection: every annotation is decided exactly once at each tier."""

import threading
import time
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections

from labeling.models import (
    Annotation,
    AnnotationLabel,
    AnnotationStatus,
    Input,
    Membership,
    ReviewDecision,
    Role,
)
from labeling.services.projects import project_create
from labeling.services.review import review_decide, review_next, review_tiers_configure
from labeling.services.taxonomy import concept_create

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL"),
]
COUNT = 2000


def pending_project():
    User = get_user_model()
    owner, author = User.objects.create_user("owner"), User.objects.create_user("author")
    project = project_create(name="review drain", created_by=owner)
    review_tiers_configure(project=project, tiers=[("all", 1.0), ("all", 1.0)])
    concept = concept_create(project=project, name="thing", actor=owner)
    inputs = Input.objects.bulk_create(
        [
            Input(
                project=project,
                sha256=f"{i:064x}",
                original_name=f"{i}.png",
                file="x",
                thumbnail="x",
                format="PNG",
                width=8,
                height=8,
                byte_size=1,
                split="train",
                status="in_review",
            )
            for i in range(COUNT)
        ]
    )
    annotations = Annotation.objects.bulk_create(
        [
            Annotation(
                project=project,
                input=i,
                author=author,
                source="human",
                status=AnnotationStatus.PENDING_REVIEW,
                review_tier=1,
            )
            for i in inputs
        ]
    )
    AnnotationLabel.objects.bulk_create(
        [AnnotationLabel(annotation=a, concept=concept) for a in annotations]
    )
    reviewers = {}
    for tier in (1, 2):
        for n in range(4):
            user = User.objects.create_user(f"reviewer{tier}{n}")
            Membership.objects.create(
                project=project, user=user, role=Role.REVIEWER, review_tier=tier
            )
            reviewers[user] = tier
    return project, reviewers


def test_eight_reviewers_on_two_tiers_decide_each_annotation_once_per_tier():
    project, reviewers = pending_project()
    errors: list[BaseException] = []
    first_tier_done = threading.Event()
    finished = Counter()
    lock = threading.Lock()
    start = threading.Barrier(len(reviewers))

    def work(user, tier):
        try:
            start.wait()
            while True:
                annotation = review_next(project=project, user=user)
                if annotation is None:
                    if tier == 1 or first_tier_done.is_set():
                        break
                    time.sleep(0.01)  # tier 2 waits for tier 1 to send more
                    continue
                review_decide(annotation=annotation, reviewer=user, action="approve")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connections.close_all()
            with lock:
                finished[tier] += 1
                if finished[1] == 4:
                    first_tier_done.set()

    threads = [threading.Thread(target=work, args=item) for item in reviewers.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)

    assert errors == []
    per_tier = Counter(
        ReviewDecision.objects.filter(project=project).values_list("tier", flat=True)
    )
    assert per_tier == {1: COUNT, 2: COUNT}, "every annotation decided once at each tier"
    pairs = ReviewDecision.objects.filter(project=project).values_list("annotation_id", "tier")
    assert len(set(pairs)) == 2 * COUNT
    assert Annotation.objects.filter(project=project, status="accepted").count() == COUNT
    wrong_tier = ReviewDecision.objects.filter(project=project).exclude(tier__in=[1, 2]).count()
    assert wrong_tier == 0
