"""The campaign's job kind: one job per planned step and attempt."""

from shequn.campaign.steps import STEP, run_step_job
from shequn.engine.registry import JobKind

# Lateness is judged per step (a post goes stale, a price change never does), not by the engine.
STEP_JOB = JobKind(name=STEP, run=run_step_job, max_lateness=None)
