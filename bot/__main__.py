"""`python -m bot`: the command line (bot/cli.py); `python -m bot --help` lists the commands."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main())
