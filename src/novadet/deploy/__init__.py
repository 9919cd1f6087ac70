"""Running models: one Predictor per runtime sharing pre- and post-processing."""
