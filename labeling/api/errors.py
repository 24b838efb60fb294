"""API errors in one shape: ``{"error": "...", ...details}`` with the right status."""

from django.core.exceptions import TooManyFilesSent
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from labeling.services.errors import ServiceError

TOO_MANY_FILES = "Too many files in one request; send a zip."


def exception_handler(exc, context):
    """A ServiceError (a broken rule) is a 400 carrying its message; DRF's own errors keep
    their status and gain an ``error`` summary line.

    Django refuses a multipart body past ``DATA_UPLOAD_MAX_NUMBER_FILES`` while parsing it
    (TooManyFilesSent, its HTML 400 page otherwise): that is a 413 here, in JSON."""
    if isinstance(exc, ServiceError):
        return Response({"error": str(exc)}, status=400)
    if isinstance(exc, TooManyFilesSent):
        return Response({"error": TOO_MANY_FILES}, status=413)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "error" not in response.data:
        detail = response.data.get("detail")
        response.data = {"error": str(detail) if detail else "Invalid request.", **response.data}
    return response
