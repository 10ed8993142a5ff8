"""Telegram I/O: updates in, the user's files, and replies out."""
