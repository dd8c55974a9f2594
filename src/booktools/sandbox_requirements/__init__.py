"""Pinned requirement files of the side environments the book compares against."""
