"""The lake as open tables: every served table published as a Delta Lake table, and the
maintenance that keeps them compact and bounded."""
