"""Servers, server accounts, leaders, notes, host keys, jump hosts."""
