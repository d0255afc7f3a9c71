"""The unified, searchable `records` table over every source."""
