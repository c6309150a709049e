"""The framework's floor: a FastAPI app whose webhook route only returns 200."""

from __future__ import annotations

import sys

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()


@app.post("/webhooks/whatsapp")
async def receive(request: Request) -> JSONResponse:
    """Read the body and acknowledge, nothing else."""
    await request.body()
    return JSONResponse({"stored": 0})


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive."""
    return {"status": "ok"}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
