"""Intron voice-note bot: application, configuration, Intron client and job engine."""

import os

# python-telegram-bot 22 returns durations as plain ints with a deprecation warning unless
# told to use datetime.timedelta, the type of its next major version; opt in now.
os.environ.setdefault("PTB_TIMEDELTA", "true")
