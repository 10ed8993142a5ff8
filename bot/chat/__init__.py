"""The chat experience: what a chat can choose, its stored choices, the menus and its history."""
