"""A multipart/form-data body in memory: the worker's uploads, the tests' and the demo's.

treq can stream multipart bodies itself, but its in-memory test double (``StubTreq``)
refuses ``files=``; building the body here lets the same upload code run against a real
server and under ``StubTreq``.
"""

from __future__ import annotations

import uuid
from typing import Mapping, Optional


def encode_multipart(fields: Mapping[str, str],
                     files: Optional[Mapping[str, tuple[str, str, bytes]]] = None,
                     ) -> tuple[bytes, str]:
    """``(body, content_type)`` for form ``fields`` and ``files`` (name -> (file name,
    content type, bytes))."""
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     .encode() + value.encode("utf-8") + b"\r\n")
    for name, (filename, ctype, data) in (files or {}).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'.encode()
                     + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"
