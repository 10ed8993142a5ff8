"""Operating the bot: the self-check, start-up errors in one line, metrics and /status."""
