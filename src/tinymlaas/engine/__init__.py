"""The inference engine: int8 models compiled to C, and their measurement on emulated cores."""
