"""gmgbd build and every check over a large synthetic range (1,000,000 records with `pytest -m slow`)."""

from __future__ import annotations

import pytest

from benchmarks.scale import run


def test_build_and_checks_on_a_synthetic_range(tmp_path):
    result = run(records=20_000, days=4, workdir=tmp_path)
    assert result["gmgbd_rows"] == 20_000


@pytest.mark.slow
def test_build_and_checks_over_a_million_records(tmp_path):
    result = run(records=1_000_000, days=30, workdir=tmp_path)
    assert result["gmgbd_rows"] == 1_000_000
