"""Use cases of the platform: consumer, depository agent, transactions, repayment."""
