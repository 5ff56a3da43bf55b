"""Clients of the systems the actions talk to."""
