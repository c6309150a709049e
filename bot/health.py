"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from bot.distributed import distribution_report, is_distributed
from bot.web import get_services

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """The database answers and the worker runs."""
    services = get_services(request)
    database = await run_in_threadpool(services.db.ping)
    worker = getattr(request.app.state, "worker", None)
    # A web-only process (COURRIER_RUN_WORKER=false) is ready without a worker of its own.
    worker_ok = bool(worker and worker.running) or not services.settings.run_worker
    ok = database and worker_ok
    body: dict[str, object] = {"status": "ready" if ok else "not ready", "database": database, "worker": worker_ok}
    if is_distributed(services.settings):
        report = await run_in_threadpool(distribution_report, services)
        body.update(report)
        ok = ok and bool(report["broker"])
        body["status"] = "ready" if ok else "not ready"
    return JSONResponse(body, status_code=200 if ok else 503)
