"""The bank's business rules: pure functions and values, no Flask and no SQL."""
