"""A zip writer whose memory does not grow with the number of entries.

``zipfile.ZipFile`` keeps a ``ZipInfo`` per entry (about 0.5 KB) until it writes the central
directory at the end: half a gigabyte for a million images. This writer appends each
entry's central-directory record to a spool file as soon as the entry is written, and copies
the spool to the end of the archive on ``close``. Entries are stored, not deflated (the
images are compressed already). ZIP64 records are written where sizes, offsets or the entry
count need them, so ``zipfile`` and every common unzip read the result.

Only what exports need: ``write(name, data)``, ``write_file(name, fileobj)``, ``mkdir``.
"""

import shutil
import struct
import tempfile
import time
import zlib
from typing import BinaryIO

LIMIT_32 = 0xFFFFFFFF
LIMIT_16 = 0xFFFF
UTF8_NAMES = 0x800
VERSION = 45  # 4.5: ZIP64
MADE_BY = (3 << 8) | VERSION  # 3: Unix, so the permission bits below mean what they say
FILE_MODE = 0o100644 << 16
DIR_MODE = (0o40755 << 16) | 0x10
CHUNK = 1 << 20


class ZipStream:
    """Write entries one after the other to ``out`` (which need not be seekable)."""

    def __init__(self, out: BinaryIO):
        self._out = out
        self._offset = 0
        self._count = 0
        self._directory = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self._directory_size = 0
        self._time, self._date = _dos_time(time.localtime())

    def __enter__(self) -> "ZipStream":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._directory.close()

    def mkdir(self, name: str) -> None:
        self._entry(name.rstrip("/") + "/", b"", DIR_MODE)

    def write(self, name: str, data: bytes) -> None:
        self._entry(name, data, FILE_MODE)

    def write_file(self, name: str, source: BinaryIO) -> None:
        """Copy a seekable file in (its CRC is read first, so nothing is held in memory)."""
        crc, size = 0, 0
        source.seek(0)
        while chunk := source.read(CHUNK):
            crc, size = zlib.crc32(chunk, crc), size + len(chunk)
        source.seek(0)
        self._header(name, crc, size, FILE_MODE)
        copied = self._copy(source)
        if copied != size:
            raise OSError(f"{name} changed while it was written to the zip.")

    def close(self) -> None:
        start = self._offset
        self._directory.seek(0)
        shutil.copyfileobj(self._directory, self._out, CHUNK)
        self._offset += self._directory_size
        self._directory.close()
        self._end(start, self._directory_size)

    # -------------------------------------------------------------------- records

    def _entry(self, name: str, data: bytes, mode: int) -> None:
        self._header(name, zlib.crc32(data), len(data), mode)
        self._out.write(data)
        self._offset += len(data)

    def _header(self, name: str, crc: int, size: int, mode: int) -> None:
        """The local header now; the central-directory record to the spool."""
        encoded = name.encode("utf-8")
        big = size >= LIMIT_32
        local_extra = struct.pack("<HHQQ", 1, 16, size, size) if big else b""
        shown = LIMIT_32 if big else size
        local = struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            VERSION,
            UTF8_NAMES,
            0,  # stored
            self._time,
            self._date,
            crc,
            shown,
            shown,
            len(encoded),
            len(local_extra),
        )
        offset = self._offset
        self._out.write(local + encoded + local_extra)
        self._offset += len(local) + len(encoded) + len(local_extra)
        self._spool_record(encoded, crc, size, offset, mode)
        self._count += 1

    def _spool_record(self, encoded: bytes, crc: int, size: int, offset: int, mode: int) -> None:
        wide = [size, size] if size >= LIMIT_32 else []
        if offset >= LIMIT_32:
            wide.append(offset)
        extra = struct.pack(f"<HH{len(wide)}Q", 1, 8 * len(wide), *wide) if wide else b""
        shown = LIMIT_32 if size >= LIMIT_32 else size
        record = struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            MADE_BY,
            VERSION,
            UTF8_NAMES,
            0,
            self._time,
            self._date,
            crc,
            shown,
            shown,
            len(encoded),
            len(extra),
            0,  # comment
            0,  # disk
            0,  # internal attributes
            mode,
            min(offset, LIMIT_32),
        )
        self._directory.write(record + encoded + extra)
        self._directory_size += len(record) + len(encoded) + len(extra)

    def _copy(self, source: BinaryIO) -> int:
        copied = 0
        while chunk := source.read(CHUNK):
            self._out.write(chunk)
            copied += len(chunk)
        self._offset += copied
        return copied

    def _end(self, start: int, size: int) -> None:
        count = self._count
        if count >= LIMIT_16 or start >= LIMIT_32 or size >= LIMIT_32:
            zip64_end = self._offset
            self._out.write(
                struct.pack(
                    "<IQHHIIQQQQ", 0x06064B50, 44, MADE_BY, VERSION, 0, 0, count, count, size, start
                )
            )
            self._out.write(struct.pack("<IIQI", 0x07064B50, 0, zip64_end, 1))
            self._offset += 56 + 20
        self._out.write(
            struct.pack(
                "<IHHHHIIH",
                0x06054B50,
                0,
                0,
                min(count, LIMIT_16),
                min(count, LIMIT_16),
                min(size, LIMIT_32),
                min(start, LIMIT_32),
                0,
            )
        )


def _dos_time(now: time.struct_time) -> tuple[int, int]:
    year = max(now.tm_year, 1980)
    return (
        (now.tm_hour << 11) | (now.tm_min << 5) | (now.tm_sec // 2),
        ((year - 1980) << 9) | (now.tm_mon << 5) | now.tm_mday,
    )
