"""State-store tests."""
