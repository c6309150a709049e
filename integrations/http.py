"""An httplib2-compatible transport over httpx that never re-sends a request on its own.

googleapiclient drives an ``httplib2.Http``-like object; httplib2 silently sends a request again
when a connection closes without an answer (``httplib2.RETRIES``, and once more on a stale
``BadStatusLine``), which may send an email twice. This transport makes exactly one attempt and
says which failures happened before the request left (safe to retry) and which after
(ambiguous: check the sent folder before retrying).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import httplib2
import httpx

from integrations.mail import AmbiguousSendError, TransientMailError

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=15.0)


class RequestNotSent(TransientMailError):
    """The request never reached the server (DNS, refused connection, connect timeout)."""


class RequestOutcomeUnknown(AmbiguousSendError):
    """The request was (maybe partly) sent and no answer came back (read timeout, reset)."""


class NoRetryHttp:
    """Implements ``request(uri, method, body, headers, ...)`` like ``httplib2.Http`` with one attempt."""

    def __init__(
        self,
        client: httpx.Client | None = None,
        *,
        api_base: str | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        owns_client: bool | None = None,
    ) -> None:
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self._owns_client = client is None if owns_client is None else owns_client
        self._api = urllib.parse.urlsplit(api_base) if api_base else None
        # Attributes googleapiclient and google-auth-httplib2 read or set on an httplib2.Http.
        self.timeout: float | None = None
        self.follow_redirects = False
        self.redirect_codes: frozenset[int] = frozenset()
        self.connections: dict[str, Any] = {}

    def _fix_scheme(self, uri: str) -> str:
        # googleapiclient swaps only the host of media-upload URLs for api_endpoint and keeps the
        # discovery document's https scheme: follow the configured endpoint's scheme on that host.
        if self._api is None:
            return uri
        parts = urllib.parse.urlsplit(uri)
        if parts.netloc == self._api.netloc and parts.scheme != self._api.scheme:
            return urllib.parse.urlunsplit(parts._replace(scheme=self._api.scheme))
        return uri

    def request(
        self,
        uri: str,
        method: str = "GET",
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        redirections: int = 0,
        connection_type: Any = None,
        **_: Any,
    ) -> tuple[httplib2.Response, bytes]:
        """Send once; return an ``httplib2.Response`` (a dict of lower-case headers with ``status``)."""
        content = body.encode() if isinstance(body, str) else body
        if content is not None and hasattr(content, "read"):
            content = content.read()
        try:
            response = self._client.request(method, self._fix_scheme(uri), content=content, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol) as exc:
            raise RequestNotSent(f"could not reach {urllib.parse.urlsplit(uri).netloc}: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise RequestOutcomeUnknown(
                f"no answer from {urllib.parse.urlsplit(uri).netloc} after sending: {type(exc).__name__}"
            ) from exc
        info: dict[str, Any] = {k.lower(): v for k, v in response.headers.items()}
        # httpx already decoded any content encoding: describe the bytes actually returned.
        info.pop("content-encoding", None)
        info["content-length"] = str(len(response.content))
        info["status"] = str(response.status_code)
        result = httplib2.Response(info)
        result.reason = response.reason_phrase
        return result, response.content

    def close(self) -> None:
        """Close the underlying client when this transport created it."""
        if self._owns_client:
            self._client.close()
