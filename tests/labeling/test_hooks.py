"""labeling/hooks.py: how labeling tells the apps built on it what happened without importing
them (issue 11). Named events only, each handler once, and a handler's failure is the
announcer's failure."""

from collections import defaultdict

import pytest

from labeling import hooks


@pytest.fixture
def fresh(monkeypatch):
    """An empty subscriber table for the test (the apps' own subscriptions stay untouched)."""
    monkeypatch.setattr(hooks, "_subscribers", defaultdict(list))


def test_given_a_subscriber_then_each_announcement_reaches_it_once(fresh):
    heard = []

    def handler(**kwargs):
        heard.append(kwargs)

    hooks.subscribe(hooks.INPUTS_STORED, handler)
    hooks.subscribe(hooks.INPUTS_STORED, handler)  # twice: still called once

    hooks.announce(hooks.INPUTS_STORED, project_id=3, input_ids=[7])
    hooks.announce(hooks.PROJECT_CREATED, project=None)  # another event: not heard

    assert heard == [{"project_id": 3, "input_ids": [7]}]


def test_given_an_event_argument_then_it_reaches_the_handler(fresh):
    heard = []
    hooks.subscribe(hooks.MODEL_VERSION_CHANGED, lambda **kw: heard.append(kw))

    hooks.announce(hooks.MODEL_VERSION_CHANGED, version="v", event="model_version.ready")

    assert heard == [{"version": "v", "event": "model_version.ready"}]


def test_given_an_unknown_event_then_subscribe_and_announce_refuse_it(fresh):
    with pytest.raises(ValueError, match="Unknown event 'input_stored'"):
        hooks.subscribe("input_stored", lambda **kw: None)
    with pytest.raises(ValueError, match="Unknown event 'input_stored'"):
        hooks.announce("input_stored", project_id=1)


def test_given_a_failing_subscriber_then_the_announcer_fails_and_later_ones_do_not_run(fresh):
    later = []

    def broken(**kwargs):
        raise RuntimeError("embedding queue down")

    hooks.subscribe(hooks.ANNOTATION_ACCEPTED, broken)
    hooks.subscribe(hooks.ANNOTATION_ACCEPTED, lambda **kw: later.append(kw))

    with pytest.raises(RuntimeError, match="embedding queue down"):
        hooks.announce(hooks.ANNOTATION_ACCEPTED, annotation=None)
    assert later == []


def test_the_apps_built_on_labeling_subscribe_when_django_starts():
    def owners(event: str) -> set[str]:
        return {h.__module__.split(".")[0] for h in hooks._subscribers[event]}

    assert "training" in owners(hooks.INPUTS_STORED)  # embeddings are queued
    assert {"training", "workflows"} <= owners(hooks.PROJECT_CREATED)  # router, default flow
    assert {"workflows", "webhooks"} <= owners(hooks.MODEL_VERSION_CHANGED)  # routing, events
    assert "webhooks" in owners(hooks.ANNOTATION_ACCEPTED)
    assert "workflows" in owners(hooks.INPUTS_EMBEDDED)  # new inputs are routed
