"""The streaming zip writer: what zipfile reads back, at any entry count and size."""

import io
import tempfile
import zipfile

from labeling.interchange.zipstream import ZipStream


def test_entries_folders_and_a_copied_file_read_back_with_zipfile():
    out = io.BytesIO()
    with tempfile.TemporaryFile() as sidecar:
        sidecar.write(b"name,labels\nrobin.png,robin\n")
        with ZipStream(out) as archive:
            archive.mkdir("train/robin")
            archive.write("train/robin/robin.png", b"\x89PNG fake bytes")
            archive.write("unlabeled/ünïcode.png", b"")
            archive.write_file("labels.csv", sidecar)

    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as read:
        assert read.testzip() is None  # every CRC matches
        assert read.namelist() == [
            "train/robin/",
            "train/robin/robin.png",
            "unlabeled/ünïcode.png",
            "labels.csv",
        ]
        assert read.getinfo("train/robin/").is_dir()
        assert read.read("train/robin/robin.png") == b"\x89PNG fake bytes"
        assert read.read("labels.csv") == b"name,labels\nrobin.png,robin\n"


def test_more_entries_than_a_plain_zip_can_count_get_zip64_end_records():
    out = io.BytesIO()
    with ZipStream(out) as archive:
        for i in range(70_000):
            archive.write(f"f/{i}.txt", str(i).encode())

    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as read:
        names = read.namelist()
        assert len(names) == 70_000
        assert read.read("f/69999.txt") == b"69999"
        assert read.read(names[0]) == b"0"


def test_an_entry_past_4_gib_of_offsets_is_found_through_zip64(monkeypatch):
    # pretend 4 GiB were written before, instead of writing them
    out = io.BytesIO()
    archive = ZipStream(out)
    archive.write("first.txt", b"one")
    monkeypatch.setattr(archive, "_offset", archive._offset + 2**32)
    archive.write("far.txt", b"two")
    archive.close()

    directory = out.getvalue()
    # the second entry's record carries its real offset in a ZIP64 extra field
    assert (2**32 + 30 + len("first.txt") + 3).to_bytes(8, "little") in directory
