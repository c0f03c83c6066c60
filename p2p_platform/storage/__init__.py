"""SQLite storage of the platform."""
