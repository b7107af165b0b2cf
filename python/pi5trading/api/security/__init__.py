"""Passwords, tokens and the signing keys of the API (docs/api.md, "Security")."""
