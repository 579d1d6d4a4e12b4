"""The ingest benchmark runs end to end on both backends and reports its figures for scripts."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_ADMIN

BENCH = Path(__file__).resolve().parents[1] / "bench" / "ingest.py"


@pytest.mark.slow
def test_ingest_benchmark_runs_on_both_backends_and_ends_with_a_json_line_of_ratios(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--events",
            "3000",
            "--groups",
            "30",
            "--backends",
            "sqlite,postgresql",
            "--postgres",
            POSTGRES_ADMIN,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(figures["results"]) == {"sqlite", "postgresql"}
    for backend, result in figures["results"].items():
        assert result["ratio"] > 0, backend
        for phase in ("raw", "full"):
            assert result[phase]["events"] == 3000, (backend, phase)
            assert result[phase]["events_per_s"] > 0, (backend, phase)
