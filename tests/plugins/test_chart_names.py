"""Chart file names are plain file names inside the report folder, whatever a version is called.

A version read from the prediction log may hold ``/``, ``..``, ``<`` or CR/LF; the chart names
of both reports (files in the artifacts folder, ``cid:`` references in the mail) are built with
:func:`fraudcal_airflow.paths.safe_name`, never from the raw version.
"""

from __future__ import annotations

import re

import pytest

from fraudcal_airflow.reporting.coverage import chart_names
from fraudcal_airflow.reporting.drift import alert_chart_name

HOSTILE = ["a/b", "<img src=x onerror=alert(1)>", "..", "../../etc/passwd", "v1\r\nBcc: x@evil.example", "a\\b"]
PLAIN_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.png")


def _names(version: str) -> list[str]:
    return [*chart_names(version).values(), alert_chart_name(version, "pr_auc")]


@pytest.mark.parametrize("version", HOSTILE)
def test_chart_names_of_a_hostile_version_are_plain_file_names_inside_the_folder(tmp_path, version):
    for name in _names(version):
        assert PLAIN_FILE_NAME.fullmatch(name), name
        assert (tmp_path / name).resolve().parent == tmp_path.resolve()
        (tmp_path / name).write_bytes(b"png")  # an archive can write it: no sub-folder, no escape
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(_names(version))


def test_versions_that_read_alike_get_different_chart_names():
    # a/b and a_b share their readable part; the hash keeps their charts apart.
    assert set(_names("a/b")).isdisjoint(_names("a_b"))
    assert len({*chart_names("v1").values()}) == 2
