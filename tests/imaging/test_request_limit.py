"""The 413 request class: an oversized body is read, thrown away and refused in JSON."""

from __future__ import annotations

import json

from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import Site

from herd.imaging.api.request import limited_request


class Echo(Resource):
    isLeaf = True

    def render_POST(self, request) -> bytes:
        return b"got %d bytes" % len(request.content.read())


class LimitTests(SynchronousTestCase):
    def send(self, raw: bytes) -> bytes:
        site = Site(Echo(), parsePOSTFormSubmission=False)
        site.requestFactory = limited_request(100)
        channel = site.buildProtocol(None)
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(raw)
        return transport.value()

    def test_small_body_passes(self) -> None:
        answer = self.send(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789")
        self.assertIn(b"200 OK", answer)
        self.assertTrue(answer.endswith(b"got 10 bytes"))

    def test_content_length_over_the_limit_is_413_json(self) -> None:
        answer = self.send(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                           b"Content-Length: 1000\r\n\r\n" + b"x" * 1000)
        head, _, body = answer.partition(b"\r\n\r\n")
        self.assertIn(b"413", head.split(b"\r\n")[0])
        self.assertEqual(json.loads(body)["error"], "too_large")

    def test_chunked_body_over_the_limit_is_413(self) -> None:
        chunks = b"".join(b"%x\r\n%s\r\n" % (50, b"y" * 50) for _ in range(4)) + b"0\r\n\r\n"
        answer = self.send(b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
        self.assertIn(b"413", answer.split(b"\r\n")[0])
