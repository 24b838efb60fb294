"""Export and import: COCO, CSV, YOLO classification folders and Label Studio JSON.

The format modules are pure (no ORM): writers stream ``InputRecord``s to a file object,
readers yield them back. ``labeling.services.interchange`` turns a project into records and
records into annotations. See docs/interchange.md.
"""

from labeling.interchange.records import (
    ConceptRecord,
    InputRecord,
    InterchangeError,
    LabelRecord,
    RecordStream,
)

# Per format: the file extension of an export, and its content type for a download.
EXTENSIONS = {"coco": "json", "csv": "csv", "yolo": "zip", "labelstudio": "json"}
CONTENT_TYPES = {
    "coco": "application/json",
    "csv": "text/csv",
    "yolo": "application/zip",
    "labelstudio": "application/json",
}

__all__ = [
    "CONTENT_TYPES",
    "EXTENSIONS",
    "ConceptRecord",
    "InputRecord",
    "InterchangeError",
    "LabelRecord",
    "RecordStream",
]
