"""The write path: pushed records validated at the gate and appended to landing tables."""
