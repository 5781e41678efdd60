"""Load and speed tools for operators."""
