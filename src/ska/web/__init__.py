"""Base templates, home, help and report pages, static files."""
