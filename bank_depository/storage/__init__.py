"""SQLite storage of the bank: connection, transactions and the SQL per table group."""
