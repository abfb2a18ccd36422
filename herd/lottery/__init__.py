"""The lottery (seed 002): agencies send bets over a binary batched protocol, then the draw."""
