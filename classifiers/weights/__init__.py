"""Shipped fine-tuned sentiment weights (float16, only what training changed); see README.md here."""
