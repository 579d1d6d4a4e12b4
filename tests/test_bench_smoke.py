"""The benchmarks run end to end on both backends and report their figures for scripts."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_ADMIN

BENCH = Path(__file__).resolve().parents[1] / "bench" / "ingest.py"
FISSION = BENCH.with_name("fission_report.py")
LATENCY = BENCH.with_name("report_latency.py")


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
        assert 0 < result["ratio"] <= result["shell_ratio"], backend
        assert result["handlers_us_per_event"] > 0, backend
        for phase in ("raw", "shell", "full"):
            assert result[phase]["events"] == 3000, (backend, phase)
            assert result[phase]["events_per_s"] > 0, (backend, phase)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_fission_report_benchmark_fills_a_tree_and_ends_with_a_json_line_of_ratios(
    tmp_path: Path, backend: str
) -> None:
    database = ["--db", POSTGRES_ADMIN] if backend == "postgresql" else []
    done = subprocess.run(
        [sys.executable, str(FISSION), "--members", "500", "--groups", "5", "--repeat", "2",
         *database],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert (figures["backend"], figures["members"]) == (backend, 500)
    assert set(figures["results"]) == {"baseline", "report", "report_group_week"}
    for name, result in figures["results"].items():
        assert result["p50_ms"] > 0, name
        assert result["p50_ratio"] > 0, name


@pytest.mark.slow
def test_report_latency_benchmark_spreads_its_log_over_30_days_so_groups_reach_every_stage(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, str(LATENCY), "--groups", "40", "--events", "2000", "--repeat", "2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["results"]["baseline"]["p50_ratio"] == 1.0
    assert {"group_list", "group_list_dead", "group_chart_30d", "overview"} <= set(
        figures["results"]
    )
    # No group is new after 30 days of log; those dismissed on the way have no stage.
    assert "new" not in figures["stages"]
    assert 0 < sum(figures["stages"].values()) <= 40
