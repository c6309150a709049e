"""The FastAPI application: webhook, sandbox, probes and feature routes, with the worker."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

import bot
from bot import health, sandbox, webhook
from bot.scheduler import Scheduler
from bot.services import Services
from bot.settings import Settings
from bot.worker import InProcessWorker
from handlers import WEB_ROUTERS

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/whatsapp"


class CourrierApp(FastAPI):
    """FastAPI, with the webhook POST dispatched before the middleware and routing stack.

    Every other request (the webhook's GET handshake included) goes through FastAPI as usual.
    """

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == WEBHOOK_PATH:
            await self._webhook_post(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def _webhook_post(self, scope: Any, receive: Any, send: Any) -> None:
        started = False

        async def tracked(message: Any) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await webhook.receive_update(self.state.services, scope, receive, tracked)
        except Exception:
            log.exception("webhook: unexpected error")
            if not started:
                await send({"type": "http.response.start", "status": 500,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": b'{"error":"internal error"}'})


def create_app(settings: Settings, services: Services, *, background: bool = True) -> FastAPI:
    """Build the app; ``background`` starts the in-process worker and the scheduler with it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = InProcessWorker(services, settings.worker_concurrency)
        scheduler = Scheduler(services)
        services.ingest.on_stored(worker.notify)
        services.on_outbox(worker.notify)
        app.state.worker = worker
        app.state.scheduler = scheduler
        if background and settings.run_worker:
            await worker.start()
            scheduler.start()
        # Objects from start-up live as long as the process: keep them out of the garbage
        # collector's full passes, which otherwise stall every request for tens of milliseconds.
        gc.collect()
        gc.freeze()
        log.info("Courrier %s ready (%s)", bot.__version__, "sandbox" if settings.sandbox_enabled else "WhatsApp")
        try:
            yield
        finally:
            scheduler.shutdown()
            for hook in services.shutdown_hooks:  # features' own background work (mailbox syncs…)
                try:
                    await asyncio.to_thread(hook)
                except Exception:
                    log.exception("a shutdown hook failed")
            await worker.stop()
            services.ingest.off_stored(worker.notify)
            services.ingest.close()
            services.off_outbox(worker.notify)
            await services.whatsapp.aclose()

    app = CourrierApp(title="Courrier", version=bot.__version__, lifespan=lifespan)
    app.state.services = services
    app.include_router(webhook.router)
    app.include_router(health.router)
    if settings.sandbox_enabled:
        app.include_router(sandbox.router)
    for router in WEB_ROUTERS:
        app.include_router(router)
    return app


def app_from_env() -> FastAPI:
    """An app built from the environment (``uvicorn --factory bot.app:app_from_env``).

    In the distributed mode this is a web-only process: it verifies, stores and enqueues.
    """
    import os

    from bot.bootstrap import build_services, prepare_database
    from bot.cli import configure_logging
    from bot.distributed import Enqueuer, check_distributed, is_distributed
    from bot.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level)
    if is_distributed(settings):
        check_distributed(settings)
        settings = settings.model_copy(update={"run_worker": False})
    services = build_services(settings)
    if not os.environ.get("COURRIER_SKIP_MIGRATIONS"):
        prepare_database(services)
    if is_distributed(settings):
        enqueuer = services.get(Enqueuer)
        services.ingest.on_stored(enqueuer.inbound)
        services.on_outbox(enqueuer.outbox)
    return create_app(settings, services)
