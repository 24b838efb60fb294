"""Zip checks: unsafe entry paths, entry-count and expanded-size limits, capped reads."""

import io
import zipfile

import pytest

from labeling.ingest.archives import (
    ArchiveRejected,
    entry_path_problem,
    list_entries,
    read_entry,
)


def make_zip(entries: dict[str, bytes]) -> zipfile.ZipFile:
    """An archive in memory; names are written as given (no sanitising by zipfile)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    buffer.seek(0)
    return zipfile.ZipFile(buffer)


@pytest.mark.parametrize("name", ["/etc/passwd", "C:\\x", "C:/windows/x.png", "\\\\server\\x"])
def test_absolute_paths_are_unsafe(name):
    assert entry_path_problem(name) == "absolute path in archive"


@pytest.mark.parametrize("name", ["../evil.png", "a/../../evil.png", "a\\..\\evil.png", ".."])
def test_parent_directory_paths_are_unsafe(name):
    assert entry_path_problem(name) == "path with '..' in archive"


@pytest.mark.parametrize("name", ["cat.png", "birds/robin.jpg", "a/b/c..d.png", "..hidden.png"])
def test_ordinary_paths_are_fine(name):
    assert entry_path_problem(name) == ""


def test_list_entries_flags_unsafe_entries_and_keeps_the_safe_ones():
    archive = make_zip({"ok.png": b"1", "../evil.png": b"2", "/abs.png": b"3"})

    entries = list_entries(archive, max_entries=10, max_total_bytes=1000)

    assert {entry.name: entry.problem for entry in entries} == {
        "ok.png": "",
        "../evil.png": "path with '..' in archive",
        "/abs.png": "absolute path in archive",
    }


def test_archive_with_too_many_files_is_refused_whole():
    archive = make_zip({f"img{i}.png": b"x" for i in range(4)})

    with pytest.raises(ArchiveRejected, match="4 files, over the limit of 3"):
        list_entries(archive, max_entries=3, max_total_bytes=10_000)


def test_archive_declaring_a_huge_expanded_size_is_refused_whole():
    # given a zip bomb in miniature: 1 MB of zeros compresses to about a kilobyte
    archive = make_zip({"zeros.png": bytes(1_000_000)})

    with pytest.raises(ArchiveRejected, match="expands to 1,000,000 bytes"):
        list_entries(archive, max_entries=10, max_total_bytes=100_000)


def test_folders_mac_resource_forks_and_dotfiles_are_skipped_silently():
    archive = make_zip(
        {
            "birds/": b"",
            "birds/robin.png": b"1",
            "__MACOSX/birds/._robin.png": b"2",
            ".DS_Store": b"3",
            "birds/.hidden.png": b"4",
        }
    )

    entries = list_entries(archive, max_entries=10, max_total_bytes=1000)

    assert [entry.name for entry in entries] == ["birds/robin.png"]


def test_skipped_entries_do_not_count_towards_the_entry_limit():
    archive = make_zip({"a.png": b"1", "__MACOSX/._a.png": b"2", ".DS_Store": b"3"})

    entries = list_entries(archive, max_entries=1, max_total_bytes=1000)

    assert len(entries) == 1


def test_symbolic_link_entries_are_flagged():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("link.png")
        link.external_attr = (0o120777 << 16) | 0  # a symlink, as `zip --symlinks` writes
        archive.writestr(link, "/etc/passwd")
    buffer.seek(0)

    entries = list_entries(zipfile.ZipFile(buffer), max_entries=10, max_total_bytes=1000)

    assert entries[0].problem == "symbolic link in archive"


def test_read_entry_never_returns_more_than_one_byte_over_the_limit():
    archive = make_zip({"big.png": b"x" * 10_000, "small.png": b"abc"})

    assert len(read_entry(archive, "big.png", max_bytes=100)) == 101
    assert read_entry(archive, "small.png", max_bytes=100) == b"abc"
