"""Training: the architecture catalog, Keras model builders, preprocessing and metrics."""
