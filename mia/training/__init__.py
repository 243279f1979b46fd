"""Training a detector: copy pairs and their provenance, negative sampling, the fit and its threshold."""
