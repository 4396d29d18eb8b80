"""Flask web tier."""
