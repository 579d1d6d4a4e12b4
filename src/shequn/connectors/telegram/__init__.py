"""Telegram building blocks: Update → contract event mapping, a thin Bot API client, a webhook."""
