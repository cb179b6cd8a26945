"""Compliance: the audit trail (and later consent, export, erasure, retention)."""
