"""POST /webhooks/{org}/events: contract events signed with one of the org's webhook secrets."""

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool

from shequn.api import IngestOut, read_body, shequn_of
from shequn.connectors.webhook.signing import DeliveryRefused, MalformedSecret, secrets_in, verify
from shequn.engine.intake import decode_body
from shequn.kit.time import utc_now
from shequn.org.models import Org
from shequn.wiring import Shequn

router = APIRouter()

NO_WEBHOOK = "no webhook for this org"

WEBHOOK_BODY = {
    "requestBody": {
        "required": True,
        "description": "Events of the contract, as for POST /api/v1/events, signed per Standard "
        "Webhooks: webhook-id, webhook-timestamp and webhook-signature headers.",
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


def webhook_secrets_of(shequn: Shequn, org: str) -> list[str]:
    """The secrets the org accepts deliveries under; empty when it has no webhook."""
    with shequn.sessions() as session:
        record = session.get(Org, org)
        return [] if record is None else secrets_in(record.settings)


@router.post("/webhooks/{org}/events", response_model=IngestOut, openapi_extra=WEBHOOK_BODY)
async def post_webhook_events(request: Request, org: str) -> IngestOut:
    """Take in signed events for the org; a delivery whose signature fails writes nothing."""
    shequn = shequn_of(request)
    secrets = await run_in_threadpool(webhook_secrets_of, shequn, org)
    if not secrets:
        # An unknown org and an org without secrets look the same: orgs are not enumerable,
        # and an org never takes unsigned deliveries.
        raise HTTPException(status.HTTP_404_NOT_FOUND, NO_WEBHOOK)
    body = await read_body(request, limit=shequn.settings.max_body_bytes)
    try:
        # A body near the limit takes a while to hash once per secret: off the event loop.
        await run_in_threadpool(verify, secrets, headers=request.headers, body=body, now=utc_now())
    except MalformedSecret:
        # The operator's fault, not the sender's; the sender retries until it is fixed.
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR,
            f"this org's webhook secrets are misconfigured: see shequn webhook secret list "
            f"--org {org}",
        ) from None
    except DeliveryRefused as error:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(error)) from None
    # Replays need no webhook-id cache: a delivery seen again within the tolerance (or a sender's
    # retry with a fresh timestamp) is ingested again, and the log's unique key (org, source, id)
    # makes that write nothing; the summary counts its events as duplicates. The key lives in the
    # store, so this holds across workers and restarts; refusing a webhook-id seen before would
    # instead turn away the sender's retry of a delivery whose answer it never got.
    intake = shequn.intake(origin="webhook", default_org=org, allowed_orgs=frozenset({org}))
    summary = await run_in_threadpool(intake.ingest, decode_body(body))
    return IngestOut.model_validate(summary.as_json())
