"""The FastAPI app: routes, health, and the background worker's lifespan."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from rich.console import Console
from sqlalchemy import text

from shequn import __version__
from shequn.api import public, router
from shequn.connectors.webhook.routes import router as webhook_router
from shequn.engine.worker import Worker
from shequn.lottery.routes import router as lottery_router
from shequn.wiring import Shequn


def create_app(
    shequn: Shequn, *, run_worker: bool = True, console: Console | None = None
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker = Worker(shequn.sessions, shequn.registry, console=console) if run_worker else None
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()

    app = FastAPI(title="shequn 社群", version=__version__, lifespan=lifespan)
    app.state.shequn = shequn
    app.include_router(router)
    app.include_router(public)
    app.include_router(lottery_router)
    app.include_router(webhook_router)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        with shequn.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    return app
