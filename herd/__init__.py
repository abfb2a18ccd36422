"""herd: a suite of event-driven network services on Twisted."""

__version__ = "0.1.0"
