"""The places herd's command-line scripts."""
