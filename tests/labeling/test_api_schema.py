"""The OpenAPI schema and the browsable docs, served without any CDN."""

import re

from django.contrib.staticfiles import finders


def test_schema_lists_the_queue_and_review_endpoints(client):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/v1/projects/{project_id}/queue/next/",
        "/api/v1/inputs/{input_id}/annotations/",
        "/api/v1/projects/{project_id}/review/next/",
        "/api/v1/annotations/{annotation_id}/decisions/",
    ):
        assert path in paths
    assert "requestBody" in paths["/api/v1/inputs/{input_id}/annotations/"]["post"]


def test_docs_page_loads_its_assets_from_this_server(client):
    html = client.get("/api/v1/docs/").content.decode()

    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(not s.startswith(("http://", "https://", "//")) for s in sources)
    bundles = [s for s in sources if "swagger-ui" in s and s.endswith(".js")]
    assert bundles and finders.find(bundles[0].split("/static/", 1)[1])


def test_schema_documents_the_review_settings_and_their_fields(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()

    operations = schema["paths"]["/api/v1/projects/{project_id}/review-settings/"]
    assert {"get", "put", "patch"} <= set(operations)
    body = operations["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    fields = schema["components"]["schemas"][body.rsplit("/", 1)[1]]["properties"]
    assert {"tiers", "reject_reasons", "consensus_auto_accept", "gold_rate"} <= set(fields)
