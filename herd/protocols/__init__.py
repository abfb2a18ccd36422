"""Wire formats: parse bytes into typed messages and format them back. No state."""
