"""predictors layer."""
