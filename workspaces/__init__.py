"""Workspaces, members and roles, write keys, management tokens and the audit log."""
