"""TEST DOUBLE of dia2.runtime (see dia2/__init__.py)."""
