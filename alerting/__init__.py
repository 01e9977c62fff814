"""alerting package."""
