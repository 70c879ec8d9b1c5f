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
    document.write_pdf(target)


def extract_pages(pdf_file: Path, pages: dict[Path, tuple[int, str]]) -> None:
    """Copy single pages of a written PDF into their own files: target -> (index, title).

    The pages are taken from the rendered document, not laid out or drawn again.
    """
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(pdf_file)
    info = reader.metadata or {}
    for target, (index, title) in pages.items():
        writer = PdfWriter()
        writer.add_page(reader.pages[index])
        writer.add_metadata(
            {
                "/Title": title,
                "/Author": str(info.get("/Author", "")),
                "/Subject": str(info.get("/Subject", "")),
                "/Creator": str(info.get("/Creator", "")),
                "/Producer": str(info.get("/Producer", "")),
                "/CreationDate": str(info.get("/CreationDate", "")),
            }
        )
        with open(target, "wb") as handle:
            writer.write(handle)
