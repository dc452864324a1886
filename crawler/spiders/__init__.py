"""Spiders of the dw-archive project."""
