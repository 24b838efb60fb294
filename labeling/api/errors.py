"""API errors in one shape: ``{"error": "...", ...details}`` with the right status."""

from rest_framework.views import exception_handler as drf_exception_handler

from labeling.services.errors import ServiceError


def exception_handler(exc, context):
    """A ServiceError (a broken rule) is a 400 carrying its message; DRF's own errors keep
    their status and gain an ``error`` summary line."""
    if isinstance(exc, ServiceError):
        from rest_framework.response import Response

        return Response({"error": str(exc)}, status=400)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "error" not in response.data:
        detail = response.data.get("detail")
        response.data = {"error": str(detail) if detail else "Invalid request.", **response.data}
    return response
