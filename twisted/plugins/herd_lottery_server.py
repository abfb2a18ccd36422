"""twistd plugin: ``twistd lottery`` (the lottery's bet intake server)."""

from twisted.application.service import ServiceMaker

herd_lottery_server = ServiceMaker(
    "herd lottery server",
    "herd.lottery.server.tap",
    "The lottery server: agencies' bets over a binary batched protocol, fsynced, then the draw.",
    "lottery",
)
