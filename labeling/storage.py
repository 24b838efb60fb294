"""Files under MEDIA_ROOT, written atomically so a killed worker never leaves half a file."""

import os
import tempfile
from functools import lru_cache
from pathlib import Path

from django.conf import settings


@lru_cache(maxsize=8)
def _resolved(root: str) -> Path:
    return Path(root).resolve()


def media_path(relative: str) -> Path:
    """The file under MEDIA_ROOT; refuses a path that leaves it (``..``, or a symlink that
    points out), or that is the root itself."""
    root = _resolved(str(settings.MEDIA_ROOT))
    path = (root / relative).resolve()
    if path == root or not path.is_relative_to(root):
        raise ValueError(f"path escapes the media root: {relative}")
    return path


def write_file(relative: str, data: bytes) -> None:
    path = media_path(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def image_paths(
    *, folder: str, sha256: str, extension: str, thumb_extension: str
) -> tuple[str, str]:
    """Where an image and its thumbnail live, sharded by hash: ``folder/ab/abcd….png``."""
    shard = sha256[:2]
    return (
        f"{folder}/originals/{shard}/{sha256}.{extension}",
        f"{folder}/thumbs/{shard}/{sha256}.{thumb_extension}",
    )


def project_folder(project_id: int) -> str:
    return f"projects/{project_id}"
