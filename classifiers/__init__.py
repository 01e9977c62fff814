"""Classifiers: language, German sentiment, embeddings, topic grouping, emerging-issue detection."""
