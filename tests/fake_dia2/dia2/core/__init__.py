"""TEST DOUBLE: the real dia2.core holds the model; its presence is what a broken install lacks."""
