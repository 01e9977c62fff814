"""Fine-tuning the German sentiment model (``fruehwarn model train``)."""
