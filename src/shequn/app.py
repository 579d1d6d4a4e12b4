"""The FastAPI app: routes, health, and the background worker's lifespan."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from rich.console import Console
from sqlalchemy import text

from shequn import __version__
from shequn.api import public, router
from shequn.commerce.routes import router as commerce_router
from shequn.connectors.platforms import platform_routers
from shequn.connectors.webhook.routes import router as webhook_router
from shequn.engine.worker import Worker
from shequn.lottery.routes import router as lottery_router
from shequn.points.routes import router as points_router
from shequn.web.routes import router as dashboard_router
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
    app.include_router(points_router)
    app.include_router(commerce_router)
    app.include_router(webhook_router)
    for platform_router in platform_routers(shequn):
        app.include_router(platform_router)
    app.include_router(dashboard_router)
    # The dashboard's own assets: operators in China often cannot reach foreign CDNs.
    app.mount("/static", StaticFiles(directory=str(files("shequn.web") / "static")), name="static")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        with shequn.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    return app
