"""Hubs, roles and API keys: who owns what, and who may do what."""
