"""imaging: a token-protected REST API that schedules image filters on workers by load."""
