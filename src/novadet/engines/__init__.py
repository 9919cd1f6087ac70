"""Training engines behind one protocol; only ``base`` is imported outside this package."""
