"""Exit statuses of `python -m bot`, in a module that imports nothing: the command line tells a
bad setting before loading Telegram's library, and start-up, below it, uses the same numbers."""

# The configuration (or the command line) must change: retrying cannot help.
EXIT_MISCONFIGURED = 2
# Something stayed unreachable: trying again later may work.
EXIT_UNREACHABLE = 1
