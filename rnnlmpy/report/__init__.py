"""Reports about models: ``info`` (what a model file holds) and ``plot`` (learning curves)."""
