"""The Quality page: annotator statistics, Cohen's and Fleiss' kappa, disagreement per
concept and confused choices, first as pure functions on hand-made ratings, then read from
the database, then through the page."""

import pytest
from django.urls import reverse
from factories import AnnotationFactory, InputFactory, MembershipFactory, UserFactory

from labeling.models import (
    AnnotationLabel,
    AnnotationSource,
    AnnotationStatus,
    Region,
    ReviewDecision,
)
from labeling.quality import (
    BoxPairAgreement,
    PairAgreement,
    annotator_stats,
    concept_disagreement,
    confused_pairs,
    kappa_band,
    mean_kappa_by_annotator,
    pairwise_box_agreement,
    pairwise_kappa,
    project_fleiss,
    project_quality,
)
from labeling.services.taxonomy import concept_create

CAT, DOG = frozenset({1}), frozenset({2})
X, Y, Z = 101, 102, 103


def ratings_of(annotator: int, labels: list[frozenset[int]], first_input: int = 1):
    return [(first_input + i, annotator, s) for i, s in enumerate(labels)]


# ---------------------------------------------------------------------------- Cohen's kappa


def test_pairwise_kappa_of_two_annotators_by_hand():
    # given two annotators agreeing on 4 of 6 inputs, each saying cat 3 times and dog 3 times
    ratings = ratings_of(X, [CAT, CAT, CAT, DOG, DOG, DOG]) + ratings_of(
        Y, [CAT, CAT, DOG, DOG, DOG, CAT]
    )

    # when
    pairs = pairwise_kappa(ratings)

    # then observed 4/6, expected (3*3 + 3*3) / 36 = 1/2, kappa (2/3 - 1/2) / (1/2) = 1/3
    assert pairs == {(X, Y): PairAgreement(X, Y, 6, pytest.approx(1 / 3))}


def test_pairs_with_fewer_than_five_shared_inputs_get_no_kappa():
    ratings = ratings_of(X, [CAT, DOG, CAT, DOG, CAT]) + ratings_of(Z, [CAT, DOG, CAT, DOG])

    pairs = pairwise_kappa(ratings)

    assert pairs[(X, Z)] == PairAgreement(X, Z, 4, None)
    assert mean_kappa_by_annotator(pairs.values()) == {}


def test_mean_kappa_averages_each_annotators_pairs():
    # given X and Z identical (kappa 1), Y agreeing with each on 4 of 6 (kappa 1/3)
    ratings = (
        ratings_of(X, [CAT, CAT, CAT, DOG, DOG, DOG])
        + ratings_of(Y, [CAT, CAT, DOG, DOG, DOG, CAT])
        + ratings_of(Z, [CAT, CAT, CAT, DOG, DOG, DOG])
    )

    means = mean_kappa_by_annotator(pairwise_kappa(ratings).values())

    assert means[X] == (pytest.approx(2 / 3), 2)
    assert means[Y] == (pytest.approx(1 / 3), 2)
    assert means[Z] == (pytest.approx(2 / 3), 2)


def test_an_annotators_first_rating_of_an_input_is_the_one_that_counts():
    # given Y first disagreeing on input 1, then (after a rejection) agreeing
    ratings = ratings_of(X, [CAT, CAT, DOG, DOG, CAT]) + ratings_of(Y, [DOG, CAT, DOG, DOG, CAT])
    ratings.append((1, Y, CAT))

    pair = pairwise_kappa(ratings)[(X, Y)]

    # then Y's first answer disagrees on input 1: observed 4/5, expected (3*2 + 2*3) / 25
    assert pair.shared == 5
    assert pair.kappa == pytest.approx((4 / 5 - 12 / 25) / (1 - 12 / 25))


def test_label_sets_are_the_categories():
    # given two annotators giving the same two concepts in another order
    ratings = [(i, X, frozenset({1, 2})) for i in range(5)] + [
        (i, Y, frozenset({2, 1})) for i in range(4)
    ]
    ratings.append((4, Y, frozenset({1})))

    pair = pairwise_kappa(ratings)[(X, Y)]

    # then the first four agree and the last (a subset) does not
    assert pair.shared == 5
    assert pair.kappa == 0.0  # X never varies: no agreement beyond chance


# ---------------------------------------------------------------------------- Fleiss' kappa


def test_fleiss_kappa_by_hand_over_the_most_common_number_of_annotators():
    # given four inputs with three annotators and one with two
    ratings = [
        *[(1, who, CAT) for who in (X, Y, Z)],
        (2, X, CAT),
        (2, Y, CAT),
        (2, Z, DOG),
        *[(3, who, DOG) for who in (X, Y, Z)],
        (4, X, CAT),
        (4, Y, DOG),
        (4, Z, DOG),
        (5, X, CAT),
        (5, Y, CAT),
        (6, X, DOG),  # one annotator: not an item
    ]

    result = project_fleiss(ratings)

    # then per item P = 1, 1/3, 1, 1/3 (mean 2/3); cat and dog 6 of 12 each, Pe = 1/2
    assert (result.raters, result.items) == (3, 4)
    assert result.kappa == pytest.approx((2 / 3 - 1 / 2) / (1 / 2))


def test_fleiss_takes_the_larger_k_on_a_tie():
    ratings = [(1, X, CAT), (1, Y, CAT), (2, X, CAT), (2, Y, DOG)]
    ratings += [(i, who, CAT) for i in (3, 4) for who in (X, Y, Z)]

    result = project_fleiss(ratings)

    assert (result.raters, result.items, result.kappa) == (3, 2, 1.0)


def test_fleiss_is_skipped_without_inputs_rated_twice():
    assert project_fleiss(ratings_of(X, [CAT, DOG]) + [(9, Y, CAT)]) is None


# ---------------------------------------------------------------------------- concepts


def test_disagreement_rate_per_concept_by_hand():
    ratings = [
        (1, X, frozenset({1, 2})),
        (1, Y, frozenset({1})),  # 1 agreed, 2 not
        (2, X, frozenset({1})),
        (2, Y, frozenset({1})),  # 1 agreed
        (3, X, frozenset({2})),
        (3, Y, frozenset({3})),  # 2 and 3 not
        (4, X, frozenset({1, 3})),  # one annotator only: left out
    ]

    rows = concept_disagreement(ratings)

    assert [(r.concept_id, r.disagreed, r.inputs) for r in rows] == [
        (2, 2, 2),
        (3, 1, 1),
        (1, 0, 2),
    ]
    assert [r.rate for r in rows] == [1.0, 1.0, 0.0]


def test_confused_pairs_count_inputs_within_one_single_choice():
    # given options 10, 11, 12 of one single choice, 20, 21 of another, 30 multi-label
    groups = {10: 1, 11: 1, 12: 1, 20: 2, 21: 2}
    ratings = [
        (1, X, frozenset({10})),
        (1, Y, frozenset({11})),
        (1, Z, frozenset({11})),  # still one input for {10, 11}
        (2, X, frozenset({11})),
        (2, Y, frozenset({10})),
        (3, X, frozenset({10, 20})),
        (3, Y, frozenset({12, 21})),  # {10, 12} and {20, 21}; never across groups
        (4, X, frozenset({10, 30})),
        (4, Y, frozenset({11})),
        (5, X, frozenset({10})),
        (5, X, frozenset({12})),  # the same annotator twice is no confusion
    ]

    assert confused_pairs(ratings, groups) == [((10, 11), 3), ((10, 12), 1), ((20, 21), 1)]
    assert confused_pairs(ratings, groups, limit=2) == [((10, 11), 3), ((10, 12), 1)]


# ---------------------------------------------------------------------------- annotators


def test_annotator_stats_by_hand():
    annotations = [
        (1, X, 1000, None),
        (2, X, 3000, True),
        (3, X, 8000, False),
        (4, X, None, True),
        (5, Y, 2000, None),
    ]
    decisions = [
        (1, "approve"),
        (2, "approve"),
        (2, "reject"),  # a later tier rejected it
        (3, "consensus"),
        (5, "approve"),
        (99, "reject"),  # someone else's (a model's) annotation
    ]

    stats = annotator_stats(annotations, decisions)

    x, y = stats[X], stats[Y]
    assert x.annotations == 4
    assert (x.avg_seconds, x.median_seconds) == (4.0, 3.0)
    assert (x.rejected, x.decided) == (1, 3)
    assert x.rejection_rate == pytest.approx(1 / 3)
    assert x.gold_accuracy == pytest.approx(2 / 3)
    assert (y.rejection_rate, y.gold_accuracy) == (0.0, None)


def test_annotator_without_decisions_or_times_has_no_rates():
    stats = annotator_stats([(1, X, None, None)], [])[X]

    assert (stats.avg_seconds, stats.median_seconds, stats.rejection_rate) == (None, None, None)


@pytest.mark.parametrize(
    ("kappa", "band"),
    [(-0.1, "poor"), (0.1, "slight"), (0.33, "fair"), (0.5, "moderate"), (0.7, "substantial")],
)
def test_kappa_band(kappa, band):
    assert kappa_band(kappa) == band


# ---------------------------------------------------------------------------- from the database


class World:
    """Three annotators on six inputs of one single choice (animal: cat or dog):

    a: cat cat cat dog dog dog
    b: cat cat dog dog dog cat   (kappa 1/3 with a and c)
    c: cat cat cat dog dog dog   (kappa 1 with a)

    plus what must not count for agreement: a model's annotation, a reviewer's correction
    and a's redo of a rejected annotation.
    """

    def __init__(self, project, admin):
        animal = concept_create(project=project, name="animal", exclusive=True, actor=admin)
        self.cat = concept_create(project=project, name="cat", parent=animal, actor=admin)
        self.dog = concept_create(project=project, name="dog", parent=animal, actor=admin)
        self.users = {n: UserFactory(username=f"{n}_annotator") for n in "abc"}
        for user in self.users.values():
            MembershipFactory(project=project, user=user)
        self.reviewer = UserFactory(username="rev")
        self.inputs = InputFactory.create_batch(6, project=project)
        plan = {"a": "cccddd", "b": "ccdddc", "c": "cccddd"}
        self.made = {}
        for name, letters in plan.items():
            for i, (item, letter) in enumerate(zip(self.inputs, letters, strict=True)):
                self.made[name, i] = self.annotate(
                    item, name, self.cat if letter == "c" else self.dog, time_ms=1000 * (i + 1)
                )
        self.decide(self.made["a", 0], "approve")
        self.decide(self.made["c", 0], "approve")
        self.decide(self.made["a", 3], "reject", status=AnnotationStatus.REJECTED)
        self.annotate(self.inputs[3], "a", self.cat, time_ms=500)  # the redo
        superseded = self.made["b", 2]
        self.decide(superseded, "correct", status=AnnotationStatus.SUPERSEDED)
        correction = AnnotationFactory(
            input=self.inputs[2], author=self.reviewer, corrects=superseded
        )
        AnnotationLabel.objects.create(annotation=correction, concept=self.cat)
        model = AnnotationFactory(input=self.inputs[0], source=AnnotationSource.MODEL)
        AnnotationLabel.objects.create(annotation=model, concept=self.dog)
        for i, correct in ((1, True), (4, False)):
            self.made["c", i].gold_correct = correct
            self.made["c", i].save()

    def annotate(self, item, name, concept, *, time_ms):
        annotation = AnnotationFactory(
            input=item,
            author=self.users[name],
            status=AnnotationStatus.ACCEPTED,
            time_spent_ms=time_ms,
        )
        AnnotationLabel.objects.create(annotation=annotation, concept=concept)
        return annotation

    def decide(self, annotation, action, status=None):
        ReviewDecision.objects.create(
            project=annotation.project,
            annotation=annotation,
            tier=1,
            reviewer=self.reviewer,
            action=action,
            reason="wrong" if action == "reject" else "",
        )
        if status:
            annotation.status = status
            annotation.save()


@pytest.fixture
def world(project, admin):
    return World(project, admin)


@pytest.mark.django_db
def test_project_quality_from_the_database(project, world, django_assert_max_num_queries):
    # when
    with django_assert_max_num_queries(4):
        report = project_quality(project)

    # then each annotator is listed by volume: a has a redo (7), the correction is left out
    rows = {row.name: row.stats for row in report.annotators}
    assert [row.name for row in report.annotators] == ["a_annotator", "b_annotator", "c_annotator"]
    assert "rev" not in rows
    a, b, c = rows["a_annotator"], rows["b_annotator"], rows["c_annotator"]
    assert (a.annotations, b.annotations, c.annotations) == (7, 6, 6)
    assert b.median_seconds == 3.5
    assert (a.rejected, a.decided, a.rejection_rate) == (1, 2, 0.5)
    assert (b.rejection_rate, c.rejection_rate) == (0.0, 0.0)
    assert (c.gold_accuracy, a.gold_accuracy) == (0.5, None)
    # and the pairwise kappas use the first rating (a's rejected one) and skip the model
    assert a.mean_kappa == pytest.approx((1 + 1 / 3) / 2)
    assert b.mean_kappa == pytest.approx(1 / 3)
    cells = {
        (name, report.heatmap_names[j]): cell
        for name, row in report.heatmap
        for j, cell in enumerate(row)
    }
    assert cells["a_annotator", "c_annotator"].pair.kappa == pytest.approx(1.0)
    assert cells["b_annotator", "a_annotator"].pair.shared == 6
    assert cells["b_annotator", "b_annotator"].diagonal
    # and Fleiss' kappa over the six inputs with three annotators: P = 7/9, Pe = 1/2
    assert (report.fleiss.raters, report.fleiss.items) == (3, 6)
    assert report.fleiss.kappa == pytest.approx(5 / 9)
    # and cat and dog are each disputed on 2 of 4 inputs, confused with each other twice
    assert [(bar.label, bar.count, bar.total) for bar in report.concepts] == [
        ("animal › cat", 2, 4),
        ("animal › dog", 2, 4),
    ]
    assert [(bar.label, bar.count) for bar in report.confused] == [("animal › cat ↔ dog", 2)]


@pytest.mark.django_db
def test_project_quality_of_a_project_without_annotations(project):
    report = project_quality(project)

    assert report.annotators == []
    assert report.fleiss is None
    assert report.pairs_with_kappa == 0


# ---------------------------------------------------------------------------- the page


def quality_url(project) -> str:
    return reverse("labeling:quality", kwargs={"project_id": project.id})


@pytest.mark.django_db
def test_admin_sees_the_charts(client, project, admin, world):
    client.force_login(admin)

    response = client.get(quality_url(project))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="kappa-heatmap"' in html
    assert 'id="concept-chart"' in html
    assert 'id="confused-chart"' in html
    assert "0.56" in html  # Fleiss' kappa
    assert "animal › cat ↔ dog" in html


@pytest.mark.django_db
def test_admin_sees_empty_states_without_data(client, project, admin):
    client.force_login(admin)

    response = client.get(quality_url(project))

    assert response.status_code == 200
    assert "No annotations by people yet" in response.content.decode()


@pytest.mark.django_db
def test_one_annotator_alone_gets_the_agreement_empty_state(client, project, admin):
    item = InputFactory(project=project)
    AnnotationFactory(input=item, author=admin)
    client.force_login(admin)

    html = client.get(quality_url(project)).content.decode()

    assert "Agreement needs at least two annotators on the same inputs" in html
    assert 'id="fleiss-empty"' in html


@pytest.mark.django_db
def test_annotator_gets_403(client, project, annotator):
    client.force_login(annotator)

    assert client.get(quality_url(project)).status_code == 403


@pytest.mark.django_db
def test_outsider_gets_404(client, project, outsider):
    client.force_login(outsider)

    assert client.get(quality_url(project)).status_code == 404


# ---------------------------------------------------------------------------- boxes

FACE, CAR = 11, 12
HERE = (0.1, 0.1, 0.4, 0.4)
NUDGED = (0.12, 0.1, 0.4, 0.4)  # IoU 0.9 with HERE
ELSEWHERE = (0.6, 0.6, 0.2, 0.2)


def test_box_agreement_per_pair_by_hand():
    # given three inputs that X and Y both annotated, and one only X did
    ratings = [
        (1, X, ((FACE, HERE),)),
        (1, Y, ((FACE, NUDGED),)),  # the same face: 1.0
        (2, X, ((FACE, HERE), (CAR, ELSEWHERE))),
        (2, Y, ((FACE, NUDGED),)),  # the car missed: 2 * 1 / 3
        (3, X, ()),
        (3, Y, ()),  # neither drew a box: left out
        (4, X, ((CAR, HERE),)),
        (4, Y, ((FACE, HERE),)),  # another concept: 0.0
        (5, X, ((FACE, HERE),)),  # Y did not annotate it
        (1, X, ((CAR, ELSEWHERE),)),  # X's later redo of input 1: the first rating counts
    ]

    # when
    pairs = pairwise_box_agreement(ratings, min_iou=0.5)

    # then
    assert pairs == {(X, Y): BoxPairAgreement(X, Y, 3, pytest.approx((1 + 2 / 3 + 0) / 3))}


def test_box_agreement_follows_the_overlap_setting():
    ratings = [(1, X, ((FACE, HERE),)), (1, Y, ((FACE, NUDGED),))]

    assert pairwise_box_agreement(ratings, min_iou=0.85)[(X, Y)].mean == 1.0
    assert pairwise_box_agreement(ratings, min_iou=0.95)[(X, Y)].mean == 0.0


@pytest.mark.django_db
def test_the_quality_page_shows_box_agreement_per_pair(client, project, admin):
    # given a box group, and two annotators who drew one face alike and disagree on a car
    objects = concept_create(project=project, name="objects", actor=admin, scope="regions")
    face = concept_create(project=project, name="face", parent=objects, actor=admin)
    car = concept_create(project=project, name="car", parent=objects, actor=admin)
    a, b = UserFactory(username="ann"), UserFactory(username="ben")
    one, two = InputFactory(project=project), InputFactory(project=project)
    for user, boxes_one, boxes_two in (
        (a, [(face, HERE)], [(car, HERE)]),
        (b, [(face, NUDGED)], []),
    ):
        for item, boxes in ((one, boxes_one), (two, boxes_two)):
            annotation = AnnotationFactory(input=item, author=user)
            for position, (concept, box) in enumerate(boxes):
                x, y, w, h = box
                Region.objects.create(
                    annotation=annotation, concept=concept, x=x, y=y, w=w, h=h, position=position
                )
    client.force_login(admin)

    # when
    report = project_quality(project)
    html = client.get(quality_url(project)).content.decode()

    # then the pair agrees fully on input one, not at all on input two: 0.5 over 2 inputs
    (row,) = report.box_pairs
    assert (row.a, row.b, row.pair.shared, row.pair.mean) == ("ann", "ben", 2, 0.5)
    assert 'id="box-agreement-table"' in html
    assert "ann · ben" in html and "0.50" in html


@pytest.mark.django_db
def test_a_project_without_boxes_shows_no_box_agreement(client, project, admin, world):
    client.force_login(admin)

    assert not project_quality(project).has_boxes
    assert 'id="box-agreement"' not in client.get(quality_url(project)).content.decode()
