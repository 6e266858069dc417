"""Shared layout and preparation of the built-in examples' directories."""
