"""Logging filters wired in settings.LOGGING."""

import logging


class ClientErrorWithoutTraceback(logging.Filter):
    """A refused request (403 and other 4xx) is the client's doing, not a bug: Django's
    ``django.request`` logger attaches the exception's traceback to it, which turns one
    "Forbidden" into forty lines. Keep the one line, drop the traceback; 5xx keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status is not None and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
