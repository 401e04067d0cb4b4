"""Public keys: parsing, fingerprints, strength policy, destination rules."""
