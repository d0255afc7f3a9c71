"""Pushed logs: the landing tables the serving API writes, hourly logs, their exports and levels."""
