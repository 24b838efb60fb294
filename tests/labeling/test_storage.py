"""Paths under MEDIA_ROOT: a stored path never reaches a file outside it."""

import pytest

from labeling.storage import media_path


@pytest.fixture
def media(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    (tmp_path / "media" / "projects").mkdir(parents=True)
    return tmp_path / "media"


def test_a_stored_path_is_found_under_the_root(media):
    assert media_path("projects/1/originals/ab/ab.png") == media / "projects/1/originals/ab/ab.png"


@pytest.mark.parametrize("relative", ["../secret.txt", "projects/../../secret.txt", "", "."])
def test_a_path_that_leaves_the_root_or_is_the_root_is_refused(media, relative):
    with pytest.raises(ValueError, match="escapes the media root"):
        media_path(relative)


def test_a_symlink_that_points_out_of_the_root_is_refused(media, tmp_path):
    (tmp_path / "outside").mkdir()
    (media / "projects" / "link").symlink_to(tmp_path / "outside")

    with pytest.raises(ValueError, match="escapes the media root"):
        media_path("projects/link/file.png")


def test_the_root_follows_the_setting(media, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "elsewhere")

    assert media_path("a.png") == tmp_path / "elsewhere" / "a.png"
