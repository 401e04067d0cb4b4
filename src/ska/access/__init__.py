"""Access rules, options and requests: who may log in where."""
