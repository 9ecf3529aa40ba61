"""Camera frames from a board into a dataset folder."""
