"""Hardware facts shared by training, compiling and devices: the board catalog, whether a model
fits a board, and the serial protocol a board speaks (pure: no web framework, no database)."""
