"""HTTP views of the platform: its JSON API, the bank's notify endpoint, the clock."""
