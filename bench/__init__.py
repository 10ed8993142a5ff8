"""Benchmark of the bot's job engine against a naive poller (not part of the test run)."""
