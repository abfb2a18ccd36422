"""An agency: reads its data set, sends it in batches, asks for its winners."""
