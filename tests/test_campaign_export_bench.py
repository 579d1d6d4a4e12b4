"""The campaign export benchmark runs end to end on both backends and reports its figures."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_ADMIN

BENCH = Path(__file__).resolve().parents[1] / "bench" / "campaign_export.py"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_campaign_export_benchmark_times_the_page_and_csv_and_ends_with_a_json_line(
    tmp_path: Path, backend: str
) -> None:
    database = ["--url", POSTGRES_ADMIN] if backend == "postgresql" else []
    done = subprocess.run(
        [sys.executable, str(BENCH), "--groups", "12", "--repeat", "1", *database],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    # Double-11 over 12 groups, 3 of them new: 19 steps per old group, 25 per new, 1 org-wide.
    assert (figures["backend"], figures["groups"], figures["steps"]) == (backend, 12, 247)
    assert set(figures["results"]) == {"baseline", "page", "page_last", "page_manager", "csv",
                                       "csv_manager", "csv_operator"}  # fmt: skip
    for name, result in figures["results"].items():
        assert result["p50_ms"] > 0, name
        assert result["p50_ratio"] > 0, name
