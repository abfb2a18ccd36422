"""Mechanisms two herd systems or more share."""
