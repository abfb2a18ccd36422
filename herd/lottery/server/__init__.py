"""The lottery server: ``twistd lottery``."""
