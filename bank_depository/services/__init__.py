"""Use cases of the bank: one function per use case, each owning its transaction."""
