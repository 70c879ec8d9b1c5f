"""PDF output with WeasyPrint: a local-only URL fetcher, the report, one-page persona PDFs.

WeasyPrint never touches the network: `LocalFetcher` serves `data:` URIs and files inside
the allowed folders (the theme and the run folder) and refuses everything else, counting
and logging each refusal.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from weasyprint import HTML
from weasyprint.document import Document
from weasyprint.urls import URLFetcher, URLFetcherResponse

from .svgtext import whole_string_text

LOG = logging.getLogger("reportgen.pdf")


class RefusedURL(ValueError):
    """A resource outside the report's own assets was requested."""


class LocalFetcher(URLFetcher):
    """Serves data: URIs and files under `roots`; refuses every other URL (no network)."""

    def __init__(self, roots: Iterable[Path]):
        super().__init__(timeout=1, allowed_protocols={"data", "file"}, allow_redirects=False)
        self.roots = [Path(r).resolve() for r in roots]
        self.refused: list[str] = []

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            path = Path(unquote(urlsplit(url).path)).resolve()
            if any(path.is_relative_to(root) for root in self.roots) and path.is_file():
                mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                return URLFetcherResponse(path.as_uri(), path.read_bytes(), {"Content-Type": mime})
        self.refused.append(url)
        LOG.warning("refused to fetch %s (only the report's own files are allowed)", url[:200])
        raise RefusedURL(f"refused: {url[:200]}")


def layout(html: str, base_dir: Path, fetcher: LocalFetcher) -> Document:
    """Lay out the HTML for print (resolving relative URLs against `base_dir`)."""
    return HTML(
        string=html, base_url=base_dir.resolve().as_uri() + "/", url_fetcher=fetcher
    ).render()


def page_of(document: Document, anchor: str) -> int | None:
    """Index of the page holding the element with id `anchor`."""
    for i, page in enumerate(document.pages):
        if anchor in page.anchors:
            return i
    return None


def write_pdf(document: Document, target: Path) -> None:
    """Write a laid-out document as a tagged PDF, drawing chart text as whole strings.

    Tagged (WeasyPrint's `pdf_tags`): a structure tree with the document language, headings,
    tables and every chart as a figure with its alt text, for screen readers; it costs
    about 0.2 s on the real file's report."""
    with whole_string_text():
        document.write_pdf(target, pdf_tags=True)
