"""Bundled architecture specs (YAML data; this file only makes them importable as package data)."""
