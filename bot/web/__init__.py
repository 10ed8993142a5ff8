"""The bot's HTTP side: one Starlette app served by uvicorn inside the bot's event loop."""
