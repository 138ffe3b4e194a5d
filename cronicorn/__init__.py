"""Cronicorn: a self-hosted HTTP job scheduler that monitors itself."""

__version__ = "0.1.0"
