"""Scoring the sentiment model on labelled files (``fruehwarn model eval``)."""
