"""A minimal, fast stand-in for the WhatsApp Cloud API used by the load benchmark.

It answers every send like Graph does and counts messages per recipient; GET /stats returns
the counts so the benchmark can check that every message was answered exactly once.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections import Counter
from typing import Any

counter = itertools.count(1)
per_recipient: Counter[str] = Counter()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """ASGI app: POST …/messages → a message id; GET /stats → counts."""
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if scope["method"] == "GET" and scope["path"] == "/stats":
        payload = {"total": sum(per_recipient.values()), "recipients": dict(per_recipient)}
    else:
        data = json.loads(body or b"{}")
        recipient = data.get("to") or data.get("recipient") or "?"
        per_recipient[recipient] += 1
        payload = {"messaging_product": "whatsapp", "contacts": [{"input": recipient, "wa_id": recipient}],
                   "messages": [{"id": f"wamid.bench.{next(counter)}"}]}
    raw = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]})
    await send({"type": "http.response.body", "body": raw})


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
