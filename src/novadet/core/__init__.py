"""Types every stage shares: boxes, image records, datasets, findings."""
