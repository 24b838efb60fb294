"""What labeling announces, for the apps built on it (training, workflows, webhooks).

Labeling imports none of those apps: it calls ``announce`` and whoever subscribed in its
``AppConfig.ready()`` acts, e.g. training queues embeddings when inputs are stored. A
subscriber runs in the announcing transaction, so it should only queue work after commit
(``transaction.on_commit``), never do slow work inline.

Not Django signals: the events are few, named here with the arguments each passes, and a
subscriber's failure is the announcer's failure (nothing is swallowed).
"""

from collections import defaultdict
from collections.abc import Callable

# event -> the keyword arguments its subscribers receive
INPUTS_STORED = "inputs_stored"  # project_id: int, input_ids: list[int] | None (None: any new)
PROJECT_CREATED = "project_created"  # project: Project
ANNOTATION_ACCEPTED = "annotation_accepted"  # annotation: Annotation
REVIEW_DECIDED = "review_decided"  # decision: ReviewDecision
# announced by the model loop (training), for webhooks: version: ModelVersion, event: str
# ("model_version.ready" or "model_version.promoted")
MODEL_VERSION_CHANGED = "model_version_changed"
# announced by the model loop when new inputs got their embeddings: project_id: int,
# since: datetime (embeddings stored from then on are new)
INPUTS_EMBEDDED = "inputs_embedded"
EVENTS = (
    INPUTS_STORED,
    PROJECT_CREATED,
    ANNOTATION_ACCEPTED,
    REVIEW_DECIDED,
    MODEL_VERSION_CHANGED,
    INPUTS_EMBEDDED,
)

_subscribers: dict[str, list[Callable[..., None]]] = defaultdict(list)


def subscribe(event: str, handler: Callable[..., None]) -> None:
    """Call ``handler(**kwargs)`` on each announcement of ``event`` (once per handler)."""
    if event not in EVENTS:
        raise ValueError(f"Unknown event {event!r}; known: {', '.join(EVENTS)}.")
    if handler not in _subscribers[event]:
        _subscribers[event].append(handler)


def announce(event: str, /, **kwargs) -> None:
    """Call every subscriber of ``event`` with ``kwargs`` (``event`` is positional-only, so
    an event may itself pass an ``event=`` argument, as MODEL_VERSION_CHANGED does)."""
    if event not in EVENTS:
        raise ValueError(f"Unknown event {event!r}.")
    for handler in list(_subscribers[event]):
        handler(**kwargs)
