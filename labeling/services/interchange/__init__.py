"""Export and import jobs in the interchange formats (COCO, CSV, YOLO, Label Studio).

The request only creates the job (and, for an import, stores the upload and checks it);
``interchange_job_run`` does the work on a worker, in chunks, reporting progress and a
heartbeat on the job row the browser polls. See docs/interchange.md.
"""

from labeling.services.interchange.common import default_statuses
from labeling.services.interchange.exporting import export_concepts
from labeling.services.interchange.jobs import (
    interchange_export_create,
    interchange_import_create,
    interchange_job_run,
    interchange_jobs_resume_stale,
)

__all__ = [
    "default_statuses",
    "export_concepts",
    "interchange_export_create",
    "interchange_import_create",
    "interchange_job_run",
    "interchange_jobs_resume_stale",
]
