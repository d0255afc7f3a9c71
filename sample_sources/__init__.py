"""Offline stand-ins for the public data sources the platform ingests.

Everything here is deterministic and needs no network:

* :mod:`sample_sources.rest` - JSONPlaceholder-shaped ``/users``, ``/posts``, ``/todos`` and
  ``/comments`` (json-server filtering and pagination);
* :mod:`sample_sources.graphql_api` - the countries GraphQL API (trevorblades schema) over the
  committed ``countries.json`` fixture (rebuilt by :mod:`sample_sources.build_countries_fixture`);
* :mod:`sample_sources.sales` - daily sales CSV drops with countable defects;
* :mod:`sample_sources.faults` - ASGI middleware with runtime fault switches at ``/_faults``;
* :mod:`sample_sources.server` - ``create_app()`` and ``serve_in_thread()`` (real HTTP on
  loopback).

Command line: ``python -m sample_sources serve`` and ``python -m sample_sources generate-sales``.
"""
