"""The Python client waits out HTTP 429 (and 503) as the server's Retry-After says, a bounded
number of times, with a fake transport standing in for the network."""

import io
import json
import urllib.error
from email.message import Message

import pytest

from portal.client import ApiError, Client, retry_after_seconds


class FakeTransport:
    """Answers each request with the next of ``answers``: (status, body, Retry-After)."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests = []

    def __call__(self, request, timeout):
        self.requests.append(request)
        status, body, retry_after = self.answers.pop(0)
        raw = json.dumps(body).encode()
        if status < 400:
            return io.BytesIO(raw)
        headers = Message()
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        raise urllib.error.HTTPError(request.full_url, status, "no", headers, io.BytesIO(raw))


def client(transport, sleeps, **kwargs) -> Client:
    return Client(
        base_url="http://portal.test",
        api_key="k",
        urlopen=transport,
        sleep=sleeps.append,
        **kwargs,
    )


THROTTLED = (429, {"detail": "Request was throttled."}, "7")


def test_a_throttled_request_is_sent_again_after_retry_after():
    transport, sleeps = FakeTransport([THROTTLED, THROTTLED, (200, [{"id": 1}], None)]), []

    projects = client(transport, sleeps).projects.list()

    assert projects == [{"id": 1}]
    assert sleeps == [7.0, 7.0]
    assert len(transport.requests) == 3


def test_retries_are_bounded_then_the_429_is_raised():
    transport, sleeps = FakeTransport([THROTTLED] * 3), []

    with pytest.raises(ApiError) as raised:
        client(transport, sleeps, max_retries=2).projects.list()

    assert raised.value.status == 429
    assert "throttled" in raised.value.message
    assert sleeps == [7.0, 7.0]


def test_a_long_retry_after_is_capped_and_other_errors_are_not_retried():
    transport = FakeTransport(
        [(429, {}, "3600"), (400, {"error": "Send the image(s) in the `file` field."}, None)]
    )
    sleeps = []

    with pytest.raises(ApiError) as raised:
        client(transport, sleeps, max_wait=30).projects.list()

    assert sleeps == [30]
    assert raised.value.status == 400


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("12", 12.0), (None, 1.5), ("soon", 1.5), ("Thu, 01 Jan 1970 00:01:40 GMT", 40.0)],
)
def test_retry_after_is_read_as_seconds_or_a_date(header, seconds):
    assert retry_after_seconds(header, default=1.5, now=60.0) == seconds
