"""Testing a compiled model on the board itself (hardware in the loop)."""
