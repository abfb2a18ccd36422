"""herd's tests: one package per system (``tests/scan``, ``tests/places``, ...) and whole-herd tests.

``make test`` runs them all with pytest; ``.venv/bin/trial tests`` runs the Twisted-style
test cases. Helpers shared by tests import as ``tests.<module>`` (``tests.fakes``,
``tests.checkout``).
"""
