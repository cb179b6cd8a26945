"""Accounts: users, sessions and tokens, MFA, roles, API keys."""
