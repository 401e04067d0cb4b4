"""Scans of servers for keys the authority did not put there."""
