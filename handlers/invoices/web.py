"""The invoices API: upload a batch (multipart), confirm it, follow it, fetch its CSV report.

Uploading only checks and stores; sending starts on confirmation, in a background thread, never
in the request.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path, PurePath
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.responses import JSONResponse, Response

from bot.web import AdminOrg, ServicesDep
from handlers.invoices.service import BatchExists, BatchNotFound, InvoiceService

router = APIRouter(prefix="/api", tags=["invoices"])
MANIFEST_LIMIT = 5 * 1024 * 1024


def _safe_name(name: str | None) -> str:
    base = PurePath((name or "").replace("\\", "/")).name
    if not base or base.startswith("."):
        raise HTTPException(422, f"invalid file name {name!r}")
    return base


def _status(service: InvoiceService, org_id: int, batch_id: int) -> dict[str, Any]:
    status = service.status(org_id, batch_id)
    return {"id": status.id, "status": status.status, "total": status.total, "sent": status.sent,
            "failed": status.failed, "skipped": status.skipped, "pending": status.pending,
            "elapsed_seconds": round(status.elapsed, 3), "rate": round(status.rate, 3),
            "paused_until": status.paused_until, "pause_reason": status.pause_reason}


@router.post("/invoice-batches", status_code=201)
async def upload_batch(
    org: AdminOrg,
    services: ServicesDep,
    manifest: Annotated[UploadFile, File(description="CSV manifest")],
    files: Annotated[list[UploadFile], File(description="the invoice PDFs")],
    subject: Annotated[str | None, Form()] = None,
    body: Annotated[str | None, Form()] = None,
    mailbox_id: Annotated[int | None, Form()] = None,
    language: Annotated[str, Form()] = "fr",
    confirm: Annotated[bool, Form()] = False,
) -> Any:
    """Check and store a batch; 422 with every problem by line when it cannot be sent."""
    service = services.get(InvoiceService)
    folder = Path(services.settings.invoice_upload_dir) / f"{org.id}-{uuid.uuid4().hex}"
    folder.mkdir(parents=True, exist_ok=True)
    lang = language if language in ("fr", "en") else "fr"
    try:
        data = await manifest.read(MANIFEST_LIMIT + 1)
        if len(data) > MANIFEST_LIMIT:
            raise HTTPException(413, "manifest too large")
        (folder / "manifest.csv").write_bytes(data)
        for upload in files:
            target = folder / _safe_name(upload.filename)
            with target.open("wb") as out:
                while chunk := await upload.read(1024 * 1024):
                    out.write(chunk)
        checked, box = service.check(org.id, folder, mailbox_id, subject=subject, body=body, lang=lang)
        if not checked.valid or box is None:
            shutil.rmtree(folder, ignore_errors=True)
            problems = [{"line": p.line, "code": p.key.rsplit(".", 1)[-1], "message": service.explain(p, lang)}
                        for p in checked.problems]
            return JSONResponse({"valid": False, "problems": problems}, status_code=422)
        try:
            batch_id = service.create(org.id, checked, box, lang=lang, confirmed=confirm)
        except BatchExists as exc:
            shutil.rmtree(folder, ignore_errors=True)
            return JSONResponse({"valid": True, "existing_batch": exc.batch_id, "status": exc.status},
                                status_code=409)
    except HTTPException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if confirm:
        service.start(batch_id)
    return {"valid": True, **_status(service, org.id, batch_id)}


@router.post("/invoice-batches/{batch_id}/confirm", status_code=202)
def confirm_batch(batch_id: int, org: AdminOrg, services: ServicesDep) -> Any:
    """Confirm a checked batch (or resume a paused one) and start sending it in the background."""
    service = services.get(InvoiceService)
    try:
        if not (service.confirm(org.id, batch_id) or service.resume(org.id, batch_id)):
            raise HTTPException(409, "batch is not waiting for confirmation")
    except BatchNotFound:
        raise HTTPException(404, "no such batch") from None
    service.start(batch_id)
    return _status(service, org.id, batch_id)


@router.get("/invoice-batches/{batch_id}")
def get_batch(batch_id: int, org: AdminOrg, services: ServicesDep) -> Any:
    """Totals and the per-row status of a batch."""
    service = services.get(InvoiceService)
    try:
        return {**_status(service, org.id, batch_id), "rows": service.rows(org.id, batch_id)}
    except BatchNotFound:
        raise HTTPException(404, "no such batch") from None


@router.get("/invoice-batches/{batch_id}/report.csv")
def batch_report(batch_id: int, org: AdminOrg, services: ServicesDep) -> Response:
    """The per-row report as CSV."""
    try:
        text = services.get(InvoiceService).report_csv(org.id, batch_id)
    except BatchNotFound:
        raise HTTPException(404, "no such batch") from None
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="invoices-{batch_id}.csv"'})
