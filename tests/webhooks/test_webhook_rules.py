"""Webhook rules without a database: the signature a receiver checks, the addresses and URLs
the portal refuses to call, and the retry schedule."""

import pytest

from webhooks.rules import (
    BACKOFF_SCHEDULE,
    address_is_public,
    backoff_seconds,
    check_url,
    sign,
    signature_header,
    url_host_port,
    verify,
)

SECRET = "whsec_test"
BODY = b'{"event":"review.decided"}'
T = 1_700_000_000


# ---------------------------------------------------------------------------- signature


def test_the_signature_matches_a_vector_computed_with_openssl():
    # printf '1700000000.{"event":"review.decided"}' | openssl dgst -sha256 -hmac whsec_test
    expected = "e285cc3c606c32cfe46619855291bd1be6ca7956a53d5c9a517ebd453b845bcc"

    assert sign(SECRET, BODY, T) == expected
    assert signature_header(SECRET, BODY, T) == f"t={T},v1={expected}"


def test_a_receiver_verifies_what_the_portal_signed():
    header = signature_header(SECRET, BODY, T)

    assert verify(SECRET, BODY, header, now=T + 10)


def test_a_tampered_body_fails_verification():
    header = signature_header(SECRET, BODY, T)

    assert not verify(SECRET, BODY.replace(b"review", b"revieW"), header, now=T)


def test_another_secret_fails_verification():
    header = signature_header(SECRET, BODY, T)

    assert not verify("whsec_other", BODY, header, now=T)


def test_a_changed_timestamp_fails_verification():
    # a replayer cannot refresh the time without breaking the signature
    signature = sign(SECRET, BODY, T)

    assert not verify(SECRET, BODY, f"t={T + 100},v1={signature}", now=T + 100)


@pytest.mark.parametrize("delay", [301, -301, 3600])
def test_a_stale_or_future_timestamp_fails_verification(delay):
    header = signature_header(SECRET, BODY, T)

    assert verify(SECRET, BODY, header, now=T + 300)
    assert not verify(SECRET, BODY, header, now=T + delay)


def test_the_tolerance_is_the_receivers_choice():
    header = signature_header(SECRET, BODY, T)

    assert verify(SECRET, BODY, header, now=T + 3600, tolerance=7200)


def test_any_of_several_v1_signatures_may_match():
    header = f"t={T},v1={'0' * 64},v1={sign(SECRET, BODY, T)}"

    assert verify(SECRET, BODY, header, now=T)


@pytest.mark.parametrize(
    "header",
    ["", "garbage", f"t={T}", f"v1={sign(SECRET, BODY, T)}", f"t=soon,v1={sign(SECRET, BODY, T)}"],
)
def test_a_malformed_header_fails_verification(header):
    assert not verify(SECRET, BODY, header, now=T)


# ---------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    "ip",
    [
        "93.184.216.34",
        "8.8.8.8",
        "2606:2800:220:1:248:1893:25c8:1946",
        "::ffff:93.184.216.34",  # IPv4-mapped public address
        "64:ff9b::5db8:d822",  # NAT64 of a public address
        "2002:5db8:d822::1",  # 6to4 of a public address
    ],
)
def test_public_addresses_are_allowed(ip):
    assert address_is_public(ip)


@pytest.mark.parametrize(
    "ip",
    [
        # IPv4
        "127.0.0.1",
        "127.8.9.1",  # all of 127/8 is loopback
        "10.0.0.5",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "169.254.0.1",
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",  # multicast
        "239.255.255.250",
        "255.255.255.255",
        "240.0.0.1",  # reserved
        "192.0.2.1",  # documentation
        "198.18.0.1",  # benchmarking
        # IPv6
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd12:3456::1",  # unique local
        "fd00:ec2::254",  # AWS metadata over IPv6
        "fec0::1",  # site-local
        "ff02::1",  # multicast
        "2001:db8::1",  # documentation
        "::127.0.0.1",  # IPv4-compatible (deprecated)
        # IPv6 carrying a private IPv4 address
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::7f00:1",
        "2002:7f00:1::1",
        # not an address
        "",
        "localhost",
        "nonsense",
    ],
)
def test_non_public_addresses_are_refused(ip):
    assert not address_is_public(ip)


# ---------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/portal",
        "http://93.184.216.34:8080/in?token=x",
        "https://[2606:2800:220:1::1]/hook",
    ],
)
def test_good_urls_pass(url):
    assert check_url(url) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "Give the URL"),
        ("ftp://example.com/x", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://127.0.0.1:6379/_", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("https://user:pw@example.com/hook", "no user name or password"),
        ("https://user@example.com/hook", "no user name or password"),
        ("https:///hook", "names a host"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://example.com:0/", "no port 0"),
        ("https://exa mple.com/", "no spaces"),
        ("https://example.com/\r\nX-Evil: 1", "no spaces"),
        ("https://example.com/" + "a" * 500, "at most 500"),
    ],
)
def test_bad_urls_are_refused_with_a_reason(url, problem):
    assert problem in check_url(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/x", ("example.com", 443)),
        ("http://example.com/x", ("example.com", 80)),
        ("http://Example.COM:8080/x", ("example.com", 8080)),
        ("http://[::1]:9000/", ("::1", 9000)),
    ],
)
def test_the_host_and_port_to_connect_to(url, expected):
    assert url_host_port(url) == expected


# ---------------------------------------------------------------------------- retries


def test_the_backoff_starts_short_and_grows():
    waits = [backoff_seconds(n) for n in range(1, 6)]

    assert waits == [10, 60, 300, 1800, 7200]


def test_the_backoff_never_shrinks_and_is_capped():
    waits = [backoff_seconds(n) for n in range(0, 50)]

    assert waits == sorted(waits)
    assert max(waits) == BACKOFF_SCHEDULE[-1] == backoff_seconds(1000)
    assert min(waits) > 0
