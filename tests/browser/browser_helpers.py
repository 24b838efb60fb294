"""Helpers the browser tests import (``from browser_helpers import login, shot``).

They live here, not in conftest.py: ``tests/`` and ``tests/browser/`` both have a conftest
module and no packages, so ``from conftest import ...`` would pick either one.
"""

import io
import zipfile
from pathlib import Path

from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"


def login(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def image_bytes(
    fmt: str = "PNG", size: tuple[int, int] = (48, 32), color: tuple[int, int, int] = (200, 40, 40)
) -> bytes:
    """A real image file made in memory."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    """A zip whose entry names are kept exactly as given, unsafe ones included."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return buffer.getvalue()


def natural_widths(locator) -> list[int]:
    """Each matched <img>'s natural width once it has loaded (0 when it failed to load)."""
    return locator.evaluate_all(
        """imgs => Promise.all(imgs.map(img => img.complete
            ? img.naturalWidth
            : new Promise(done => {
                img.addEventListener("load", () => done(img.naturalWidth));
                img.addEventListener("error", () => done(0));
              })))"""
    )


def console_errors(page) -> list[str]:
    """Collect the page's console errors from now on (the list fills as they happen)."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors
