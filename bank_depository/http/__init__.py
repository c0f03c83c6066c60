"""HTTP views of the bank: parse, make one service call, serialise."""
