"""What an import's report says, in lines a person reads (the job list shows them).

Pure: takes the report dict ``ImportReport.as_dict`` stored on the job. Counts that are zero
and lists that are empty are left out; problems come last, as warnings.
"""

from dataclasses import dataclass

EXAMPLES = 5  # names shown per problem; the API's report has them all (up to its cap)


@dataclass(frozen=True)
class ReportLine:
    text: str
    warning: bool = False


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def _examples(names: list[str]) -> str:
    shown = ", ".join(names[:EXAMPLES])
    return shown + (", …" if len(names) > EXAMPLES else "")


def report_lines(report: dict) -> list[ReportLine]:
    lines = []
    inputs = [
        (report.get("inputs_matched", 0), "matched"),
        (report.get("inputs_created", 0), "new"),
        (report.get("inputs_unmatched", 0), "not found"),
    ]
    found = ", ".join(f"{count:,} {what}" for count, what in inputs if count)
    records = _plural(report.get("records", 0), "record")
    lines.append(ReportLine(f"{records}: {found}" if found else records))
    annotations = report.get("annotations_created", 0)
    if annotations:
        statuses = report.get("statuses") or {}
        how = ", ".join(
            f"{count:,} {status.replace('_', ' ')}" for status, count in statuses.items()
        )
        labels = _plural(report.get("labels_created", 0), "label")
        text = f"{_plural(annotations, 'annotation')} with {labels}"
        if report.get("regions_created"):
            text += f" and {_plural(report['regions_created'], 'box', 'boxes')}"
        lines.append(ReportLine(f"{text} ({how})" if how else text))
    skipped = [
        (report.get("duplicates_skipped", 0), "already there"),
        (report.get("rejected_skipped", 0), "rejected in the source"),
    ]
    if any(count for count, _ in skipped):
        text = ", ".join(f"{count:,} {why}" for count, why in skipped if count)
        lines.append(ReportLine(f"Skipped: {text}"))
    lines.extend(_problems(report))
    return lines


def _problems(report: dict) -> list[ReportLine]:
    problems = []
    unknown = report.get("unknown_concepts") or {}
    if unknown:
        names = [f"{name} ({count:,})" for name, count in unknown.items()]
        labels = _plural(report.get("unknown_labels", 0), "label")
        problems.append(f"{labels} named no concept: {_examples(names)}")
    if report.get("unmatched_examples"):
        problems.append(f"Not in this project: {_examples(report['unmatched_examples'])}")
    if report.get("images_rejected"):
        rejected = [f"{r['name']} ({r['message']})" for r in report["images_rejected"]]
        problems.append(f"Images refused: {_examples(rejected)}")
    if report.get("ambiguous_names"):
        problems.append(f"Names held by several inputs: {_examples(report['ambiguous_names'])}")
    if report.get("conflicts"):
        problems.append(f"Conflicting labels: {_examples(report['conflicts'])}")
    problems.extend(_box_problems(report))
    return [ReportLine(text, warning=True) for text in problems]


def _box_problems(report: dict) -> list[str]:
    problems = []
    if report.get("boxes_refused"):
        refused = [
            f"{r['name']}: {r['concept']} ({r['message']})" for r in report["refused_examples"]
        ]
        boxes = _plural(report["boxes_refused"], "box", "boxes")
        problems.append(f"{boxes} refused: {_examples(refused)}")
    if report.get("boxes_clipped"):
        boxes = _plural(report["boxes_clipped"], "box", "boxes")
        problems.append(
            f"{boxes} reached past the image and were clipped to it: "
            f"{_examples(report['clipped_examples'])}"
        )
    if report.get("too_many_boxes"):
        problems.append(f"Too many boxes on one image: {_examples(report['too_many_boxes'])}")
    if report.get("boxes_as_labels"):
        boxes = _plural(report["boxes_as_labels"], "box", "boxes")
        problems.append(
            f"{boxes} named a concept that labels whole images: kept as labels of the whole "
            f"image, without the box: {_examples(report['boxes_as_labels_examples'])}"
        )
    if report.get("labels_on_box_concepts"):
        labels = _plural(report["labels_on_box_concepts"], "label")
        problems.append(
            f"{labels} of whole images named a box concept and were left out (a box concept "
            f"needs a box): {_examples(report['labels_on_box_concepts_examples'])}"
        )
    return problems
