"""Human-readable views of results: console tables now, an HTML report later."""
