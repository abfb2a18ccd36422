"""The echo server of the course's Part 1: ``twistd echo-server``."""
