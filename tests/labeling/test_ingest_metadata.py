"""Metadata CSVs uploaded beside images: one row per file, the other columns as values."""

import pytest

from labeling.ingest.metadata import MetadataRejected, metadata_for, parse_metadata_csv


def test_rows_are_keyed_by_the_filename_column_with_empty_cells_left_out():
    data = b"filename,camera,site\nrobin.png,north,\nwren.jpg,south,marsh\n"

    table = parse_metadata_csv(data)

    assert table == {
        "robin.png": {"camera": "north"},
        "wren.jpg": {"camera": "south", "site": "marsh"},
    }


def test_a_byte_order_mark_from_excel_does_not_hide_the_name_column():
    data = "\ufeffFilename,camera\nrobin.png,north\n".encode()

    assert parse_metadata_csv(data) == {"robin.png": {"camera": "north"}}


@pytest.mark.parametrize("column", ["file", "image", "name", "path", " Image "])
def test_other_usual_names_for_the_file_column_work(column):
    data = f"{column},camera\nrobin.png,north\n".encode()

    assert parse_metadata_csv(data) == {"robin.png": {"camera": "north"}}


def test_csv_without_a_name_column_is_rejected_with_the_columns_it_needs():
    with pytest.raises(MetadataRejected, match="filename"):
        parse_metadata_csv(b"camera,site\nnorth,marsh\n")


def test_csv_that_is_not_utf8_is_rejected():
    with pytest.raises(MetadataRejected, match="UTF-8"):
        parse_metadata_csv("filename,lieu\nrobin.png,forêt\n".encode("utf-16"))


def test_rows_without_a_file_name_are_ignored():
    table = parse_metadata_csv(b"filename,camera\n,north\nrobin.png,south\n")

    assert table == {"robin.png": {"camera": "south"}}


def test_metadata_matches_a_file_by_its_path_or_by_its_base_name():
    table = {"birds/robin.png": {"site": "a"}, "wren.jpg": {"site": "b"}}

    assert metadata_for("birds/robin.png", table) == {"site": "a"}
    assert metadata_for("upload.zip/garden/wren.jpg", table) == {"site": "b"}
    assert metadata_for("garden\\wren.jpg", table) == {"site": "b"}
    assert metadata_for("sparrow.png", table) == {}
