"""Compiling trained models for boards: TFLite conversion, C arrays, Arduino libraries."""
