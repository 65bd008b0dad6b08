"""Bridges to other NAS tools (optional extras)."""
