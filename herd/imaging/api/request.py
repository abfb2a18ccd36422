"""A request that refuses an oversized body with 413 without keeping any of it.

Twisted buffers a whole body before the resource sees it. Over ``max_body`` bytes (by
Content-Length, or counted as chunks arrive), the rest is read and thrown away, the form
is left unparsed, and the answer is a JSON 413: memory and disk stay bounded, and the
client, having sent everything, reads the refusal cleanly.
"""

from __future__ import annotations

from typing import Optional

from twisted.web import server

from herd.imaging.api.errors import error_body


class _Discard:
    """A body sink that keeps nothing."""

    def write(self, data: bytes) -> None:
        pass

    def seek(self, *args: object) -> int:
        return 0

    def tell(self) -> int:
        return 0

    def read(self, *args: object) -> bytes:
        return b""

    def close(self) -> None:
        pass


class LimitedRequest(server.Request):
    """``server.Request`` with a body limit (``max_body``, set by ``limited_request``)."""

    max_body = 32 * 1024 * 1024
    too_large = False
    _received = 0

    def _refuse_body(self) -> None:
        self.too_large = True
        if self.content is not None:
            self.content.close()
        self.content = _Discard()
        self.requestHeaders.removeHeader(b"content-type")  # so Twisted parses no form

    def gotLength(self, length: Optional[int]) -> None:
        if length is not None and length > self.max_body:
            self._refuse_body()
        else:
            super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        self._received += len(data)
        if not self.too_large and self._received > self.max_body:
            self._refuse_body()
        self.content.write(data)

    def process(self) -> None:
        if not self.too_large:
            return super().process()
        self.setHeader(b"Connection", b"close")
        body = error_body(self, 413, "too_large",
                          f"the request body is over {self.max_body} bytes")
        self.setHeader(b"Content-Length", str(len(body)).encode("ascii"))
        self.write(body)
        self.finish()


def limited_request(max_body: int) -> type[LimitedRequest]:
    """A request class refusing bodies over ``max_body`` bytes."""
    return type("LimitedRequest", (LimitedRequest,), {"max_body": max_body})
