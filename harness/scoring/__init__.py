"""Metrics shared by tasks: answer comparison, equivalence checking and confidence intervals."""
