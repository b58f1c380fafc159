"""Escalation: routing findings to working groups, the ladder, leverage and proposals."""
