"""The P2P lending platform."""
