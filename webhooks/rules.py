"""Webhook rules with no database: event names, the signature, which addresses and URLs the
portal may call, and the retry schedule. See docs/webhooks.md.

The signature follows Stripe's scheme. The header is ``t=<unix seconds>,v1=<hex>`` where
``<hex>`` is HMAC-SHA256, keyed with the webhook's secret, over ``f"{t}."`` followed by the
exact request body. A receiver recomputes it over the raw body it got (before any JSON
parsing), compares in constant time, and refuses a ``t`` too far from its own clock, so a
captured request cannot be replayed later. ``verify`` below does exactly that.
"""

import hashlib
import hmac
import ipaddress
from urllib.parse import urlsplit

ANNOTATION_ACCEPTED = "annotation.accepted"
REVIEW_DECIDED = "review.decided"
VERSION_READY = "model_version.ready"
VERSION_PROMOTED = "model_version.promoted"
EVENTS = (ANNOTATION_ACCEPTED, REVIEW_DECIDED, VERSION_READY, VERSION_PROMOTED)

SIGNATURE_SCHEME = "v1"
# Seconds to wait after the n-th failed attempt (n = 1, 2, ...); the last one repeats.
BACKOFF_SCHEDULE = (10, 60, 300, 1800, 7200, 21600)
URL_MAX_LENGTH = 500  # Webhook.url's max_length

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


# ---------------------------------------------------------------------------- signature


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}."`` + body, keyed with the secret."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Portal-Signature`` value: ``t=<timestamp>,v1=<hex signature>``."""
    return f"t={timestamp},{SIGNATURE_SCHEME}={sign(secret, body, timestamp)}"


def verify(secret: str, body: bytes, header: str, now: int, tolerance: int = 300) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and its time is within
    ``tolerance`` seconds of ``now``. Several ``v1=`` entries are allowed (any may match)."""
    timestamp = None
    signatures = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == SIGNATURE_SCHEME:
            signatures.append(value)
    if timestamp is None or not signatures or abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp)
    return any(hmac.compare_digest(expected, s) for s in signatures)


# ---------------------------------------------------------------------------- addresses


def address_is_public(ip: str | Address) -> bool:
    """Whether the portal may connect to this address: a global unicast address, not
    loopback, private (RFC 1918, ULA), shared (100.64/10), link-local (169.254.169.254, the
    cloud metadata address, included), site-local, multicast, reserved or unspecified. An
    IPv6 address carrying an IPv4 one is judged by the IPv4 one. Unparsable: not public."""
    if isinstance(ip, str):
        try:
            ip = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
        except ValueError:
            return False
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return address_is_public(ip.ipv4_mapped)
        if ip in _NAT64:  # a NAT64 gateway connects to the IPv4 address in the last 32 bits
            return address_is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None and not address_is_public(ip.sixtofour):
            return False
        if ip.is_site_local:
            return False
    refused = (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )
    return ip.is_global and not refused


# ---------------------------------------------------------------------------- URLs


def check_url(url: str) -> str | None:
    """What is wrong with a webhook URL, or None. Does not resolve the host."""
    if not url:
        return "Give the URL to send events to."
    if len(url) > URL_MAX_LENGTH:
        return f"A webhook URL has at most {URL_MAX_LENGTH} characters."
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "A webhook URL has no spaces or control characters."
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number in 0-65535
    except ValueError:
        return "This is not a valid URL."
    if parts.scheme not in ("http", "https"):
        return "A webhook URL starts with http:// or https://."
    if parts.username is not None or parts.password is not None:
        return "Put no user name or password in a webhook URL: the signature authenticates."
    if not parts.hostname:
        return "A webhook URL names a host."
    if port == 0:
        return "A webhook URL has no port 0."
    return None


def url_host_port(url: str) -> tuple[str, int]:
    """The host to resolve and the port to connect to, for a URL ``check_url`` accepted."""
    parts = urlsplit(url)
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


# ---------------------------------------------------------------------------- retries


def backoff_seconds(attempt: int) -> int:
    """Seconds to wait before trying again after the ``attempt``-th failure (1 = first)."""
    index = min(max(attempt, 1), len(BACKOFF_SCHEDULE)) - 1
    return BACKOFF_SCHEDULE[index]
