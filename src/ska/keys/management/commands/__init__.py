"""The ``ska key`` command."""
