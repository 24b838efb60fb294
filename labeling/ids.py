"""Row ids from outside: URLs, query parameters, request bodies.

An id column is a signed 64-bit integer; a bigger number reaches the database driver as an
OverflowError (a 500), so ids are checked against that range before any query.
"""

MAX_ID = 2**63 - 1


def id_fits(value: int) -> bool:
    """Whether a row could have this id (no row has a zero, negative or too-big id)."""
    return 0 < value <= MAX_ID


def int_param(raw: str | None) -> int | None:
    """A whole number written in plain digits, else None (``int`` also reads '٣' and ' 3',
    and ``str.isdigit`` passes '²', which ``int`` refuses)."""
    if not raw or not (raw.isascii() and raw.isdigit()):
        return None
    return int(raw)


class IdConverter:
    """``<id:name>`` in a URL: like ``<int:name>``, but an id too big for the database is
    no match (a 404)."""

    regex = "[0-9]+"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not id_fits(number):
            raise ValueError(f"{value} is not a possible id.")
        return number

    def to_url(self, value: int) -> str:
        return str(value)
