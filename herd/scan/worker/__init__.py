"""The scan worker role: ``twistd worker`` (tap.py wires; scanner.py scans; connection.py is thin)."""
