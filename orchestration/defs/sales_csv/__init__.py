"""Daily sales CSV drops: raw files, cleaning, orders, rejects, daily summary and exports."""
