"""A small Python client for the portal's REST API (standard library only).

    from portal.client import Client

    client = Client(base_url="http://127.0.0.1:8000", api_key="…")
    project = client.projects.create(name="Birds")
    client.concepts.create(project=project["id"], name="species", exclusive=True)
    client.inputs.create(project=project["id"], file="robin.jpg",
                         concepts=[{"id": "species", "value": "robin"}])
    model = client.models.list(project=project["id"])[0]
    client.models.train(model["id"])
    while client.models.get(model["id"])["status"] == "training":
        time.sleep(2)
    client.models.predict(model["id"], file="unknown.jpg")["concepts"]

Every error answer raises ``ApiError`` carrying the status and the server's message.
A 429 (too many requests) or 503 answer is retried after the ``Retry-After`` the server
sends, a bounded number of times (``max_retries``, each wait at most ``max_wait`` seconds).
Many images go fastest as one request: ``client.inputs.create_many(files=[...])`` or a zip.
"""

from __future__ import annotations

import json
import mimetypes
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, BinaryIO

JSON = dict[str, Any]
FileLike = str | Path | bytes | BinaryIO


class ApiError(Exception):
    """The server said no: ``status`` is the HTTP status, ``message`` its explanation and
    ``body`` the whole answer (e.g. ``unknown`` concepts)."""

    def __init__(self, status: int, message: str, body: Any = None):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.body = body


RETRIED_STATUSES = (429, 503)


def retry_after_seconds(value: str | None, *, default: float, now: float | None = None) -> float:
    """Seconds to wait from a ``Retry-After`` header: a number of seconds or an HTTP date."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return default
    return max(0.0, when - (time.time() if now is None else now))


class Client:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float = 60.0,
        max_retries: int = 5,
        max_wait: float = 60.0,
        urlopen: Callable = urllib.request.urlopen,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/") + "/api/v1/"
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_wait = max_wait
        self._urlopen = urlopen
        self._sleep = sleep
        self.projects = Projects(self)
        self.members = Members(self)
        self.review_settings = ReviewSettings(self)
        self.concepts = Concepts(self)
        self.inputs = Inputs(self)
        self.queue = Queue(self)
        self.models = Models(self)
        self.workflows = Workflows(self)

    # ------------------------------------------------------------------ transport

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict | None = None,
        files: dict[str, list[tuple[str, bytes]]] | None = None,
        fields: dict[str, str] | None = None,
    ) -> Any:
        url = self.base_url + path.lstrip("/")
        if params:
            query = {k: v for k, v in params.items() if v is not None}
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Authorization": f"Token {self.api_key}", "Accept": "application/json"}
        data = None
        if files is not None:
            data, content_type = _multipart(fields or {}, files)
            headers["Content-Type"] = content_type
        elif json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        raw = self._send(request)
        return json.loads(raw) if raw else None

    def _send(self, request: urllib.request.Request) -> bytes:
        """The answer's body; a 429 or 503 is retried after its ``Retry-After`` (at most
        ``max_retries`` times, each wait capped at ``max_wait``), any other error raises."""
        attempt = 0
        while True:
            try:
                with self._urlopen(request, timeout=self.timeout) as response:
                    return response.read()
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRIED_STATUSES or attempt >= self.max_retries:
                    raise self._error(exc) from None
                default = min(self.max_wait, 2.0**attempt)
                wait = retry_after_seconds(exc.headers.get("Retry-After"), default=default)
                exc.close()
                attempt += 1
                self._sleep(min(wait, self.max_wait))

    @staticmethod
    def _error(exc: urllib.error.HTTPError) -> ApiError:
        raw = exc.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        message = body.get("error") or body.get("detail") if isinstance(body, dict) else body
        return ApiError(exc.code, str(message or exc.reason), body)

    def export(
        self,
        *,
        project: int,
        format: str = "coco",
        wait: float = 300.0,
        include_suggestions: bool = False,
        automatic_labels: bool = True,
        **options: Any,
    ) -> bytes:
        """Export a project (``coco``, ``csv``, ``yolo``, ``labelstudio``) and return the
        file's bytes once the background job is done. Accepted labels only, unless
        ``include_suggestions`` (labels waiting for review, marked ``pending_review``);
        ``automatic_labels=False`` leaves out the accepted labels a model wrote."""
        options = options | {
            "include_suggestions": include_suggestions,
            "automatic_labels": automatic_labels,
        }
        job = self.request(
            "POST",
            f"projects/{project}/exports/",
            json_body={"format": format, "options": options},
        )
        deadline = time.monotonic() + wait
        while job["status"] not in ("done", "failed"):
            if time.monotonic() > deadline:
                raise ApiError(504, f"export {job['id']} still running after {wait:.0f} s", job)
            time.sleep(0.5)
            job = self.request("GET", f"exports/{job['id']}/")
        if job["status"] == "failed":
            raise ApiError(500, job.get("error") or "export failed", job)
        request = urllib.request.Request(
            self.base_url + f"exports/{job['id']}/download/",
            headers={"Authorization": f"Token {self.api_key}"},
        )
        return self._send(request)


def _read(file: FileLike) -> tuple[str, bytes]:
    if isinstance(file, (str, Path)):
        path = Path(file)
        return path.name, path.read_bytes()
    if isinstance(file, bytes):
        return "upload.bin", file
    return Path(getattr(file, "name", "upload.bin")).name, file.read()


def _multipart(fields: dict[str, str], files: dict[str, list[tuple[str, bytes]]]):
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(head.encode() + str(value).encode() + b"\r\n")
    for name, entries in files.items():
        for filename, data in entries:
            kind = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: {kind}\r\n\r\n'
            )
            parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class _Resource:
    def __init__(self, client: Client):
        self.client = client


class Projects(_Resource):
    def list(self) -> list[JSON]:
        return self.client.request("GET", "projects/")

    def create(self, *, name: str, description: str = "", **settings: Any) -> JSON:
        return self.client.request(
            "POST", "projects/", json_body={"name": name, "description": description, **settings}
        )

    def get(self, project: int) -> JSON:
        return self.client.request("GET", f"projects/{project}/")

    def update(self, project: int, **settings: Any) -> JSON:
        return self.client.request("PATCH", f"projects/{project}/", json_body=settings)


class Members(_Resource):
    def list(self, *, project: int) -> list[JSON]:
        return self.client.request("GET", f"projects/{project}/members/")

    def add(self, *, project: int, user: str, role: str = "annotator", review_tier=None) -> JSON:
        body = {"user": user, "role": role}
        if review_tier is not None:
            body["review_tier"] = review_tier
        return self.client.request("POST", f"projects/{project}/members/", json_body=body)


class ReviewSettings(_Resource):
    """Review tiers, reject reasons, consensus (with the box overlap ``region_iou``) and gold
    rate (admins), as on the review settings page. ``tiers`` is one
    ``{"mode": ..., "sample_rate": ...}`` per tier, tier 1 first; modes: all, sample,
    disagreements, model_doubt, model_spot_check."""

    def get(self, *, project: int) -> JSON:
        return self.client.request("GET", f"projects/{project}/review-settings/")

    def set(
        self,
        *,
        project: int,
        tiers: list[dict],
        reject_reasons: list[str],
        consensus_auto_accept: bool,
        consensus_majority: int,
        gold_rate: float,
        region_iou: float | None = None,
    ) -> JSON:
        """Replace all of them (PUT); ``region_iou`` left out keeps the project's."""
        body = {
            "tiers": tiers,
            "reject_reasons": reject_reasons,
            "consensus_auto_accept": consensus_auto_accept,
            "consensus_majority": consensus_majority,
            "gold_rate": gold_rate,
        }
        if region_iou is not None:
            body["region_iou"] = region_iou
        return self.client.request("PUT", f"projects/{project}/review-settings/", json_body=body)

    def update(self, *, project: int, **fields: Any) -> JSON:
        """Change only the fields given (PATCH), e.g. ``update(project=1, gold_rate=0.1)``."""
        return self.client.request(
            "PATCH", f"projects/{project}/review-settings/", json_body=fields
        )


class Concepts(_Resource):
    def list(self, *, project: int) -> list[JSON]:
        return self.client.request("GET", f"projects/{project}/concepts/")

    def create(
        self,
        *,
        project: int,
        name: str,
        parent: int | None = None,
        exclusive: bool = False,
        key: str = "",
        synonyms: list[str] | None = None,
    ) -> JSON:
        body = {"name": name, "parent": parent, "exclusive": exclusive}
        if key:  # else the server makes it from the name
            body["key"] = key
        if synonyms:
            body["synonyms"] = synonyms
        return self.client.request("POST", f"projects/{project}/concepts/", json_body=body)

    def add_synonym(self, concept: int, name: str) -> JSON:
        return self.client.request(
            "POST", f"concepts/{concept}/synonyms/", json_body={"name": name}
        )

    def merge(self, concept: int, *, into: int) -> JSON:
        return self.client.request("POST", f"concepts/{concept}/merge/", json_body={"into": into})

    def dictionary(self, concept: int) -> JSON:
        return self.client.request("GET", f"concepts/{concept}/dictionary/")

    def set_dictionary(self, concept: int, *, definition: str = "", is_not: str = "") -> JSON:
        body = {"definition": definition, "is_not": is_not}
        return self.client.request("PUT", f"concepts/{concept}/dictionary/", json_body=body)


class Inputs(_Resource):
    def create(
        self,
        *,
        project: int,
        file: FileLike,
        concepts: list[dict] | None = None,
        metadata: dict | None = None,
        review: bool = False,
    ) -> JSON:
        """Upload one image, optionally with Clarifai-style concepts and metadata."""
        fields = {"review": "true" if review else "false"}
        if concepts:
            fields["concepts"] = json.dumps(concepts)
        if metadata:
            fields["metadata"] = json.dumps(metadata)
        return self.client.request(
            "POST", f"projects/{project}/inputs/", files={"file": [_read(file)]}, fields=fields
        )

    def create_many(self, *, project: int, files: list[FileLike]) -> JSON:
        """Upload many files (or a zip) as one background batch; returns the batch."""
        return self.client.request(
            "POST", f"projects/{project}/inputs/", files={"file": [_read(f) for f in files]}
        )

    def batch(self, *, project: int, batch: int) -> JSON:
        return self.client.request("GET", f"projects/{project}/batches/{batch}/")

    def list(self, *, project: int, split: str | None = None, page: int = 1) -> JSON:
        params = {"split": split, "page": page}
        return self.client.request("GET", f"projects/{project}/inputs/", params=params)

    def get(self, input: int) -> JSON:
        return self.client.request("GET", f"inputs/{input}/")


class Queue(_Resource):
    def next(self, *, project: int) -> JSON | None:
        """The next input to label (leased to you), or None when your queue is empty."""
        return self.client.request("GET", f"projects/{project}/queue/next/")

    def submit(self, *, input: int, concepts: list[dict], client_token: str = "") -> JSON:
        body = {"concepts": concepts, "client_token": client_token or uuid.uuid4().hex}
        return self.client.request("POST", f"inputs/{input}/annotations/", json_body=body)


class Models(_Resource):
    def types(self) -> list[JSON]:
        return self.client.request("GET", "models/types/")

    def list(self, *, project: int | None = None) -> list[JSON]:
        return self.client.request("GET", "models/", params={"project": project})

    def create(self, *, project: int, name: str, type: str, params: dict | None = None) -> JSON:
        body = {"project": project, "name": name, "type": type, "params": params or {}}
        return self.client.request("POST", "models/", json_body=body)

    def get(self, model: int) -> JSON:
        return self.client.request("GET", f"models/{model}/")

    def train(self, model: int, input_ids: list[int] | None = None) -> JSON:
        return self.client.request(
            "POST", f"models/{model}/train/", json_body={"input_ids": input_ids}
        )

    def wait(self, model: int, *, timeout: float = 600.0, every: float = 1.0) -> JSON:
        """Poll until the model is not training any more; returns its last state."""
        deadline = time.monotonic() + timeout
        state = self.get(model)
        while state["status"] == "training" and time.monotonic() < deadline:
            time.sleep(every)
            state = self.get(model)
        return state

    def predict(
        self, model: int, *, file: FileLike | None = None, input_id: int | None = None
    ) -> JSON:
        """Scores per concept and the routing decision, for a new image or an input."""
        if input_id is not None:
            return self.client.request(
                "POST", f"models/{model}/predict/", json_body={"input_id": input_id}
            )
        if file is None:
            raise ValueError("give a file or an input_id")
        result = self.client.request(
            "POST", f"models/{model}/predict/", files={"file": [_read(file)]}
        )
        while result.get("status") == "queued":
            time.sleep(0.5)
            result = self.client.request("GET", f"predictions/{result['id']}/")
        return result


class Workflows(_Resource):
    """A project's workflow graphs: every update is a new version; ``results`` dry-runs an
    image (nothing written), ``run`` runs a version on the project's inputs."""

    def list(self, *, project: int) -> list[JSON]:
        return self.client.request("GET", f"projects/{project}/workflows/")

    def create(self, *, project: int, name: str, document: dict, description: str = "") -> JSON:
        body = {"name": name, "document": document, "description": description}
        return self.client.request("POST", f"projects/{project}/workflows/", json_body=body)

    def get(self, workflow: int) -> JSON:
        return self.client.request("GET", f"workflows/{workflow}/")

    def update(self, workflow: int, **fields: Any) -> JSON:
        """Change ``name``, ``description`` and/or save ``document`` as a new version."""
        return self.client.request("PATCH", f"workflows/{workflow}/", json_body=fields)

    def delete(self, workflow: int) -> None:
        self.client.request("DELETE", f"workflows/{workflow}/")

    def validate(self, *, project: int, document: dict) -> JSON:
        """``{"valid": bool, "problems": [{"node_id", "field", "message"}]}``; saves nothing."""
        return self.client.request(
            "POST", f"projects/{project}/workflows/validate/", json_body={"document": document}
        )

    def run(
        self, workflow: int, *, version: int | None = None, input_ids: list[int] | None = None
    ) -> JSON:
        body = {k: v for k, v in (("version", version), ("input_ids", input_ids)) if v}
        return self.client.request("POST", f"workflows/{workflow}/runs/", json_body=body)

    def run_status(self, run: int) -> JSON:
        return self.client.request("GET", f"workflows/runs/{run}/")

    def wait(self, run: int, *, timeout: float = 600.0, every: float = 1.0) -> JSON:
        """Poll a run until it is done or failed (or the time is up); returns its last state."""
        deadline = time.monotonic() + timeout
        state = self.run_status(run)
        while state["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(every)
            state = self.run_status(run)
        return state

    def results(self, workflow: int, *, file: FileLike, version: int | None = None) -> JSON:
        """Every node's output for a new image (a dry run on a worker; nothing is written)."""
        fields = {"version": str(version)} if version else None
        result = self.client.request(
            "POST", f"workflows/{workflow}/results/", files={"file": [_read(file)]}, fields=fields
        )
        while result.get("status") == "queued":
            time.sleep(0.5)
            result = self.run_status(result["id"])
        return result
