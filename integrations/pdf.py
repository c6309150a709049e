"""PDF rendering port and its WeasyPrint adapter.

The adapter never reaches the network: a template can only load files under the folders it
was given (templates, an organization's own folder, its logo) and ``data:`` URIs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

log = logging.getLogger(__name__)


class PdfRenderError(Exception):
    """The HTML could not be turned into a PDF."""


class PdfRenderer(Protocol):
    """Turns an HTML document into PDF bytes."""

    def render(self, html: str, *, base_dir: Path, allowed_dirs: Sequence[Path] = ()) -> bytes:
        """The PDF; relative URLs resolve against ``base_dir``; only files under allowed dirs load."""
        ...


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


class WeasyPrintRenderer:
    """Renders with WeasyPrint (Pango and fonts from the system), one document at a time.

    WeasyPrint does not promise thread safety (fontconfig and Pango state are shared), and the
    chat's job runner and the API render from different threads: a lock serializes them.
    """

    _lock = threading.Lock()

    def render(self, html: str, *, base_dir: Path, allowed_dirs: Sequence[Path] = ()) -> bytes:
        """The PDF bytes of ``html``."""
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher

        roots = [p.resolve() for p in (base_dir, *allowed_dirs)]

        class LocalFetcher(URLFetcher):  # type: ignore[misc]
            """Lets a template load local files under its roots and data: URIs, nothing else."""

            def fetch(self, url: str, headers: Any = None) -> Any:
                if url.startswith("file:"):
                    path = Path(unquote(urlparse(url).path)).resolve()
                    if not _inside(path, roots):
                        raise ValueError(f"{path} is outside the template folders")
                elif not url.startswith("data:"):
                    raise ValueError("templates may only load local files and data: URIs")
                return super().fetch(url, headers)

        try:
            with self._lock:
                document = HTML(
                    string=html,
                    base_url=base_dir.resolve().as_uri() + "/",
                    url_fetcher=LocalFetcher(allowed_protocols=("file", "data")),
                )
                pdf = document.write_pdf()
        except Exception as exc:
            raise PdfRenderError(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(pdf, bytes):
            raise PdfRenderError("WeasyPrint returned no PDF")
        return pdf
