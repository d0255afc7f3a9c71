"""The REST API's users: the snapshot, and the users pushed to the API merged into it."""
