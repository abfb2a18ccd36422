"""The places server role: ``twistd places`` (tap.py wires; service.py decides; connection.py is thin)."""
