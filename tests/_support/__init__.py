"""Helpers the tests share, imported as ``_support.<module>`` (pytest puts tests/ on the path)."""
