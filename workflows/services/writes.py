"""Writing what a workflow's annotation writers decided: through labeling's one annotation
writer (``annotations_bulk_insert``), with the input statuses by the one status rule.
Routing (the default workflow) and hand-started runs both write here."""

from collections.abc import Iterable

from labeling.models import AnnotationStatus
from labeling.queue_rules import input_status
from labeling.review_rules import model_first_tier
from labeling.services.annotations import ModelRow, annotations_bulk_insert
from labeling.services.queue import queue_slots_close_open
from labeling.services.statuses import inputs_status_set


def workflow_rows_write(
    *,
    project,
    workflow_version,
    rows_by_node: dict,
    version_ids: dict,
    rules,
    unanswered: Iterable[int] = (),
) -> dict[str, int]:
    """Write the writers' rows (node id -> rows) of one batch; ``unanswered`` inputs got no
    row and stay with the annotators. Each annotation records the workflow version and node
    (columns) and the model version that scored it; its review tier comes from the review
    rules, from its band and spot-check flag. Returns the rows written per node. Call
    inside a transaction."""
    by_version: dict[int | None, list[ModelRow]] = {}
    statuses: dict[int, str] = {}
    written: dict[str, int] = {}
    for node_id, rows in rows_by_node.items():
        written[node_id] = len(rows)
        for row in rows:
            provenance = row.provenance
            accepted = row.status == AnnotationStatus.ACCEPTED
            tier = (
                0
                if accepted
                else model_first_tier(row.band, provenance.get("spot_check", False), rules) or 1
            )
            version_id = version_ids.get((provenance.get("model"), provenance.get("version")))
            by_version.setdefault(version_id, []).append(
                ModelRow(
                    input_id=row.input_id,
                    status=row.status,
                    review_tier=tier,
                    band=row.band,
                    provenance=provenance,
                    labels=list(row.labels),
                    workflow_node=node_id,
                    regions=list(row.regions),
                )
            )
            # its open slots are closed below: the model answered for it
            status = input_status(accepted=accepted, waiting=True, open_slot=False)
            if statuses.get(row.input_id) != "labeled":
                statuses[row.input_id] = status
    for version_id, rows in by_version.items():
        annotations_bulk_insert(
            project_id=project.id,
            version_id=version_id,
            rows=rows,
            workflow_version_id=workflow_version.id,
        )
    queue_slots_close_open(input_ids=list(statuses))
    for input_id in unanswered:
        statuses.setdefault(input_id, input_status(accepted=False, waiting=False, open_slot=True))
    inputs_status_set(statuses=statuses)
    return written
