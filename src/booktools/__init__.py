"""Shared plumbing for the book's notebooks and tests."""
