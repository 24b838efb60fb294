"""The job list's reading of an import report: what was found and created, then problems."""

from labeling.interchange.report import ReportLine, report_lines


def test_a_clean_import_says_what_it_matched_and_created():
    report = {
        "records": 3,
        "inputs_matched": 2,
        "inputs_created": 1,
        "annotations_created": 3,
        "labels_created": 4,
        "statuses": {"accepted": 2, "pending_review": 1},
    }

    assert report_lines(report) == [
        ReportLine("3 records: 2 matched, 1 new"),
        ReportLine("3 annotations with 4 labels (2 accepted, 1 pending review)"),
    ]


def test_problems_come_last_as_warnings_with_a_few_examples():
    report = {
        "records": 9,
        "inputs_matched": 1,
        "inputs_unmatched": 8,
        "unmatched_examples": [f"x{i}.png" for i in range(8)],
        "duplicates_skipped": 1,
        "images_rejected": [{"name": "bad.png", "message": "not an image"}],
        "unknown_concepts": {"albatross": 2, "emu": 1},
        "unknown_labels": 3,
    }

    lines = report_lines(report)

    assert lines[0] == ReportLine("9 records: 1 matched, 8 not found")
    assert lines[1] == ReportLine("Skipped: 1 already there")
    assert [line.warning for line in lines] == [False, False, True, True, True]
    assert lines[2].text == "3 labels named no concept: albatross (2), emu (1)"
    assert lines[3].text == "Not in this project: x0.png, x1.png, x2.png, x3.png, x4.png, …"
    assert lines[4].text == "Images refused: bad.png (not an image)"


def test_an_empty_file_still_says_so():
    assert report_lines({"records": 0}) == [ReportLine("0 records")]
