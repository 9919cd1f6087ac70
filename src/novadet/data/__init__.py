"""Reading, auditing, de-duplicating and splitting detection datasets."""
