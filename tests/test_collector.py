"""The `shequn` process spaces out the cycle collector before any command runs."""

import gc
from collections.abc import Iterator
from importlib.metadata import entry_points

import pytest

import shequn.cli.main as cli
from shequn.kit.collector import MIDDLE, OLD, YOUNG, settle_collector


@pytest.fixture
def collector_restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("collector_restored")
def test_settling_sets_the_loaded_code_aside_and_spaces_out_collections() -> None:
    gc.unfreeze()
    settle_collector()

    assert gc.get_threshold() == (50_000, 5, 100) == (YOUNG, MIDDLE, OLD)
    # The modules, classes and functions loaded so far are never scanned again.
    assert gc.get_freeze_count() > 10_000


@pytest.mark.usefixtures("collector_restored")
def test_the_shequn_command_settles_the_collector_before_its_command_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    seen: list[tuple[tuple[int, int, int], int]] = []
    monkeypatch.setattr(
        cli, "app", lambda **_: seen.append((gc.get_threshold(), gc.get_freeze_count()))
    )

    cli.main()

    assert len(seen) == 1
    threshold, frozen = seen[0]
    assert threshold == (YOUNG, MIDDLE, OLD)
    assert frozen > 0


def test_the_installed_shequn_command_is_the_settling_entry_point() -> None:
    (script,) = entry_points(group="console_scripts", name="shequn")
    assert script.value == "shequn.cli.main:main"
