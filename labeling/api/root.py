"""REST API v1: the root, listing where each resource lives (members only see their own
projects there, as everywhere)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

RESOURCES = {
    "me": "api_me",
    "projects": "api_projects",
    "models": "api_models",
    "model_types": "api_model_types",
    "schema": "api_schema",
    "docs": "api_docs",
}


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def api_root_view(request: Request) -> Response:
    """The API's resources by name, with the docs and schema; needs a key or a session."""
    return Response(
        {name: reverse(url_name, request=request) for name, url_name in RESOURCES.items()}
        | {"authentication": "Authorization: Token <key>, or a session"}
    )
