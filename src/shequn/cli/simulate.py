"""`shequn simulate`: a simulated community written out as contract events (模拟社群)."""

import contextlib
import json
import os
import sys
import time
from typing import IO, Annotated

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from shequn.cli.common import EXIT_UNREADABLE, errors, fail
from shequn.simulate import ScenarioError, World, load_scenario, scaled, with_days

# A run of this many groups takes long enough to deserve a progress bar.
BIG_RUN_GROUPS = 100
PROGRESS_EVERY = 5000


def simulate(
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            help="A built-in scenario (double11, brand-10k) or a .toml / .json scenario file.",
        ),
    ],
    seed: Annotated[int, typer.Option(help="The same seed gives the same events.")] = 1,
    speed: Annotated[
        float,
        typer.Option(
            min=0.0, help="Simulated seconds per real second; 0 writes everything at once."
        ),
    ] = 0.0,
    out: Annotated[
        str, typer.Option("--out", "-o", help="The JSON Lines file to write; - for stdout.")
    ] = "-",
    days: Annotated[
        int | None, typer.Option(min=1, max=366, help="Simulate only this many days.")
    ] = None,
    scale: Annotated[
        float | None,
        typer.Option(
            help="Scale a fleet scenario's stores and groups (brand-10k at 0.01: 100 groups)."
        ),
    ] = None,
    org: Annotated[
        str | None, typer.Option(help="The org the events name (default: the scenario's).")
    ] = None,
) -> None:
    """Generate a simulated community as contract events (模拟社群), ready for `shequn ingest`."""
    try:
        plan = load_scenario(scenario)
        if days is not None:
            plan = with_days(plan, days)
        if scale is not None:
            plan = scaled(plan, scale)
        world = World(plan, seed=seed, org=org)
    except ScenarioError as error:
        fail(str(error))
    to_stdout = out == "-"
    stream: IO[str] = sys.stdout
    try:
        if not to_stdout:
            # Closed by the ExitStack below.
            stream = open(out, "w", encoding="utf-8")  # noqa: SIM115
    except OSError as error:
        fail(f"cannot write {out}: {error.strerror}", code=EXIT_UNREADABLE)
    groups = len(world.group_ids())
    # A bar under JSON streaming into the same terminal would garble both.
    show_bar = (
        errors.is_terminal and groups >= BIG_RUN_GROUPS and not (to_stdout and sys.stdout.isatty())
    )
    progress = Progress(
        TextColumn("simulating 模拟 {task.fields[events]:,} events"),
        BarColumn(),
        TimeElapsedColumn(),
        console=errors,
        disable=not show_bar,
    )
    try:
        with progress, contextlib.ExitStack() as closing:
            if not to_stdout:
                closing.enter_context(stream)
            task = progress.add_task("simulate", total=world.clock_span, events=0)
            written = _write(world, stream, speed=speed, progress=progress, task=task)
            stream.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other Unix tools do.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    except OSError as error:
        fail(f"writing {out} failed: {error.strerror}", code=EXIT_UNREADABLE)
    errors.print(
        f"wrote 写出 {written:,} events · scenario {world.scenario.name} · {groups} groups · "
        f"{world.scenario.days} day{'s' if world.scenario.days != 1 else ''} · seed {seed}"
        + ("" if to_stdout else f" → {out}"),
        highlight=False,
    )


def _write(world: World, stream: IO[str], *, speed: float, progress: Progress, task: TaskID) -> int:
    start = world.start.timestamp()
    origin: float | None = None
    written = 0
    for event in world.events():
        if speed > 0 and world.clock >= start:
            # The prologue (history before the start) is written at once; pacing starts after.
            if origin is None:
                origin = time.monotonic()
            ahead = origin + (world.clock - start) / speed - time.monotonic()
            if ahead > 0:
                stream.flush()
                time.sleep(ahead)
        stream.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
        stream.write("\n")
        written += 1
        if written % PROGRESS_EVERY == 0:
            progress.update(task, completed=world.clock_elapsed, events=written)
    progress.update(task, completed=world.clock_span, events=written)
    return written
