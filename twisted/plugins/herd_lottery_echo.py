"""twistd plugin: ``twistd echo-server`` (the lottery course's Part 1 echo server)."""

from twisted.application.service import ServiceMaker

herd_lottery_echo = ServiceMaker(
    "herd lottery echo server",
    "herd.lottery.echo.tap",
    "The echo server of the lottery course's Part 1: answers each message with itself.",
    "echo-server",
)
