"""Countries from the GraphQL API, one partition per continent."""
