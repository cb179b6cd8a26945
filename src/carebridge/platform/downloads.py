"""Answers that are files the browser saves (a PDF, an iCalendar file)."""

from __future__ import annotations

from starlette.responses import Response


def file_response(
    content: bytes,
    media_type: str,
    filename: str,
    *,
    cache: str = "no-store",
    disposition: str = "attachment",
) -> Response:
    return Response(
        content=content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{filename}"',
            "Cache-Control": cache,
        },
    )
