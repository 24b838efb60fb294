"""Writes: one function per use case, ``<entity>_<action>(*, ...)``."""
