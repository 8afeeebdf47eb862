"""Process-level tests: the hub started by twistd as an operator starts it."""
