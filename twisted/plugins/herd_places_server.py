"""twistd plugin: ``twistd places`` (a server of herd's places herd)."""

from twisted.application.service import ServiceMaker

herd_places = ServiceMaker(
    "herd places server",
    "herd.places.server.tap",
    "A server of the places herd: IAMAT/WHATSAT, location flooding, Google Places.",
    "places",
)
