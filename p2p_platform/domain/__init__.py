"""Pure platform rules: no Flask, no sqlite3."""
