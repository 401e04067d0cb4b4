"""Keyfile rendering, the sync queue, engine, transport and daemon."""
