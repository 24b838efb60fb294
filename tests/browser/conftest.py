"""Browser flows: Playwright drives Debian's Chromium against pytest-django's live server.

The live server runs in a thread of this process, so ``settings`` changes made here reach it,
and the database is a real (transactional) one both sides see.
"""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run
# next to one unless told that the test knows what it is doing.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 10_000


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing; install Debian's chromium package to run browser tests."
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_context(browser):
    """``new_context()`` -> a fresh browser context (its own cookies: one per user).

    A JavaScript error on any of its pages fails the test at teardown.
    """
    contexts, errors = [], []

    def make(**kwargs):
        kwargs.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(**kwargs)
        context.set_default_timeout(TIMEOUT_MS)
        context.on("page", lambda page: page.on("pageerror", lambda exc: errors.append(exc)))
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


@pytest.fixture(autouse=True)
def _browser_settings(settings, tmp_path):
    # Uploads are processed by a Celery task queued on commit; eager runs it in the request.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    media = tmp_path / "media"
    media.mkdir(exist_ok=True)
    settings.MEDIA_ROOT = media
