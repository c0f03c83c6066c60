"""Delivery of the bank's asynchronous notifications from the outbox."""
