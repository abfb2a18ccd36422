"""A tiny fake Google Places Nearby Search server, for tests and the benchmark.

``GET /maps/api/place/nearbysearch/json?location=LAT,LNG&radius=M&key=KEY`` answers
Google-shaped JSON: 20 made-up places (Nearby Search's page size) spread within the radius,
nearest first. The key chooses a misbehaviour:

==============  ===============================================================
``bad-key``     ``REQUEST_DENIED`` with Google's ``error_message``
``malformed``   a body that is not JSON
``array``       a JSON array instead of an object
``no-status``   a JSON object without ``status``
``http-500``    HTTP 500 with an HTML body
``hang``        never answers
(no key)        ``REQUEST_DENIED``, as Google does
==============  ===============================================================

A missing or unreadable ``location`` or ``radius`` (or a radius over 50 000 m) gives
``INVALID_REQUEST``.

Run it alone with ``python -m herd.testing.fake_places PORT`` (127.0.0.1 only; port 0
picks a free one): it prints ``listening on PORT`` and serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

PATH = b"/maps/api/place/nearbysearch/json"
PAGE_SIZE = 20
EARTH_RADIUS_M = 6_371_008.8
MAX_RADIUS_M = 50_000

NO_KEY_MESSAGE = (
    "You must use an API key to authenticate each request to Google Maps Platform APIs. "
    "For additional information, please refer to http://g.co/dev/maps-no-account"
)
BAD_KEY_MESSAGE = "The provided API key is invalid. "


def _arg(request: Request, name: bytes) -> Optional[str]:
    values = (request.args or {}).get(name)
    return values[0].decode("utf-8", "replace") if values else None


def _location(text: Optional[str]) -> Optional[tuple[float, float]]:
    try:
        lat_text, lng_text = (text or "").split(",")
        lat, lng = float(lat_text), float(lng_text)
    except ValueError:
        return None
    return (lat, lng) if -90 <= lat <= 90 and -180 <= lng <= 180 else None


def _radius(text: Optional[str]) -> Optional[float]:
    try:
        radius = float(text or "")
    except ValueError:
        return None
    return radius if 0 < radius <= MAX_RADIUS_M else None


def _offset(lat: float, lng: float, distance_m: float, bearing_deg: float) -> tuple[float, float]:
    """The point ``distance_m`` from (lat, lng) in direction ``bearing_deg`` (great circle)."""
    d = distance_m / EARTH_RADIUS_M
    phi, lam, theta = math.radians(lat), math.radians(lng), math.radians(bearing_deg)
    phi2 = math.asin(math.sin(phi) * math.cos(d) + math.cos(phi) * math.sin(d) * math.cos(theta))
    lam2 = lam + math.atan2(
        math.sin(theta) * math.sin(d) * math.cos(phi), math.cos(d) - math.sin(phi) * math.sin(phi2)
    )
    lng2 = (math.degrees(lam2) + 540) % 360 - 180
    return round(math.degrees(phi2), 7), round(lng2, 7)


def fake_results(lat: float, lng: float, radius_m: float, count: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """``count`` made-up Nearby Search results within ``radius_m`` of (lat, lng), nearest first."""
    results = []
    for i in range(count):
        place_lat, place_lng = _offset(lat, lng, radius_m * (i + 1) / (count + 1), i * 137.5)
        results.append(
            {
                "business_status": "OPERATIONAL",
                "geometry": {"location": {"lat": place_lat, "lng": place_lng}},
                "icon": "https://maps.gstatic.com/mapfiles/place_api/icons/v1/png_71/generic_business-71.png",
                "name": f"Fake Place {i + 1}",
                "place_id": f"fake-{place_lat:+.5f}{place_lng:+.5f}-{i + 1}",
                "rating": round(3 + (i % 5) * 0.4, 1),
                "reference": f"fake-ref-{i + 1}",
                "scope": "GOOGLE",
                "types": ["point_of_interest", "establishment"],
                "user_ratings_total": 10 * (i + 1),
                "vicinity": f"{i + 1} Fake Street",
            }
        )
    return results


def _denied(status: str, message: str) -> dict[str, Any]:
    return {"error_message": message, "html_attributions": [], "results": [], "status": status}


class NearbySearch(Resource):
    """The Nearby Search endpoint; ``requests`` records every request's query arguments."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[dict[str, str]] = []
        self.hanging: list[Request] = []

    def render_GET(self, request: Request) -> Any:
        args = (request.args or {}).items()
        self.requests.append({k.decode("utf-8", "replace"): v[0].decode("utf-8", "replace") for k, v in args})
        key = _arg(request, b"key")
        if key == "hang":
            self.hanging.append(request)
            request.notifyFinish().addErrback(lambda _: None)
            return NOT_DONE_YET
        if key == "http-500":
            request.setResponseCode(500)
            request.setHeader(b"content-type", b"text/html; charset=UTF-8")
            return b"<html><body>Server Error</body></html>"
        request.setHeader(b"content-type", b"application/json; charset=UTF-8")
        if key == "malformed":
            return b'{"html_attributions" : [], "results" : [ {"name" : "trunc'
        if key == "array":
            return b"[]"
        if key == "no-status":
            return b'{"html_attributions" : [], "results" : []}'
        return json.dumps(self.answer(request, key), indent=3).encode("utf-8")

    def answer(self, request: Request, key: Optional[str]) -> dict[str, Any]:
        """The JSON object answering a well-formed (or merely wrong) request."""
        if not key:
            return _denied("REQUEST_DENIED", NO_KEY_MESSAGE)
        if key == "bad-key":
            return _denied("REQUEST_DENIED", BAD_KEY_MESSAGE)
        location = _location(_arg(request, b"location"))
        radius = _radius(_arg(request, b"radius"))
        if location is None or radius is None:
            return _denied("INVALID_REQUEST", "Invalid request. Invalid 'location' or 'radius' parameter.")
        return {
            "html_attributions": [],
            "next_page_token": "fake-next-page-token",
            "results": fake_results(location[0], location[1], radius),
            "status": "OK",
        }


def fake_places_root(endpoint: Optional[NearbySearch] = None) -> Resource:
    """A root resource serving ``endpoint`` (a new NearbySearch by default) at PATH."""
    root = Resource()
    node = root
    *parents, leaf = PATH.strip(b"/").split(b"/")
    for segment in parents:
        child = Resource()
        node.putChild(segment, child)
        node = child
    node.putChild(leaf, endpoint if endpoint is not None else NearbySearch())
    return root


class _QuietSite(Site):
    """A Site without an access log line per request (the benchmark sends many)."""

    noisy = False

    def log(self, request: Request) -> None:
        pass


def main(reactor: Any, port_text: str) -> Deferred[None]:
    """Listen on 127.0.0.1:PORT, say so, and serve until the reactor stops."""
    site = _QuietSite(fake_places_root())
    port = reactor.listenTCP(int(port_text), site, interface="127.0.0.1")
    print(f"listening on {port.getHost().port}", flush=True)
    return Deferred()


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: python -m herd.testing.fake_places PORT")
    from twisted.internet.task import react

    react(main, sys.argv[1:])
