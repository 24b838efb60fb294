"""Ingest throughput: images per second through the whole batch pipeline, against the limit.

The limit is what Pillow alone needs to validate and thumbnail the same images
(``inspect_image``), with no hashing, disk writes or database rows. The ratio says how much
the pipeline around it costs.

    .venv/bin/python bench/ingest.py [--count 400] [--size 1024x768]

Runs in a throw-away data dir (SQLite unless DATABASE_URL is set).
"""

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PORTAL_DATA_DIR", tempfile.mkdtemp(prefix="bench-ingest-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from common import noisy_image, pillow_seconds  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.core.management import call_command  # noqa: E402

from labeling.services.ingest import upload_batch_create, upload_batch_process  # noqa: E402
from labeling.services.projects import project_create  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--size", default="1024x768")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    call_command("migrate", verbosity=0)
    files = [(f"img{i:05d}.jpg", noisy_image(i, width, height)) for i in range(args.count)]
    megabytes = sum(len(data) for _, data in files) / 1e6

    raw = pillow_seconds(files)

    admin = get_user_model().objects.create_user("bench")
    project = project_create(name="bench", created_by=admin)
    start = time.perf_counter()
    batch = upload_batch_create(
        project=project, user=admin, files=[SimpleUploadedFile(n, d) for n, d in files]
    )
    staged = time.perf_counter() - start
    start = time.perf_counter()
    batch = upload_batch_process(batch_id=batch.id)
    processed = time.perf_counter() - start
    assert batch.processed == args.count and project.inputs.count() == args.count

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, db {engine}"
    )
    print(f"{args.count} JPEGs of {width}x{height} ({megabytes:.1f} MB)")
    print(f"limit  (Pillow validate + thumbnail only): {args.count / raw:8.1f} images/s")
    print(f"stage  (receive files into the batch):     {args.count / staged:8.1f} images/s")
    print(f"ingest (hash, validate, store, rows):      {args.count / processed:8.1f} images/s")
    print(f"ratio ingest / limit: {raw / processed:.2f}")


if __name__ == "__main__":
    main()
