"""A simulated community that speaks the event contract: for the demo, rehearsals and load."""

from shequn.simulate.scenarios import (
    BUILTINS,
    Scenario,
    ScenarioError,
    load_scenario,
    scaled,
    with_days,
)
from shequn.simulate.world import Drop, Received, Request, World

__all__ = [
    "BUILTINS",
    "Drop",
    "Received",
    "Request",
    "Scenario",
    "ScenarioError",
    "World",
    "load_scenario",
    "scaled",
    "with_days",
]
