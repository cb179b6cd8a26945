"""Answers that are files the browser saves (a PDF, an iCalendar file, an attachment)."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from starlette.responses import Response


def file_response(
    content: bytes,
    media_type: str,
    filename: str,
    *,
    cache: str = "no-store",
    disposition: str = "attachment",
) -> Response:
    """``filename`` must already be safe (no quotes, controls or path parts: see
    :func:`carebridge.platform.files.safe_filename` for names people chose)."""
    return Response(
        content=content,
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition(disposition, filename),
            "Cache-Control": cache,
        },
    )


def content_disposition(disposition: str, filename: str) -> str:
    """The header for ``filename`` (RFC 6266): an ASCII name as it is; any other name also in
    UTF-8 (``filename*``), after an ASCII stand-in for clients that read only ``filename``."""
    if filename.isascii():
        return f'{disposition}; filename="{filename}"'
    stand_in = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    if stand_in.startswith("."):
        stand_in = f"download{stand_in}"
    return f"{disposition}; filename=\"{stand_in}\"; filename*=UTF-8''{quote(filename, safe='')}"
