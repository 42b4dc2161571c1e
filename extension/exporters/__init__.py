"""Destinations: exporters (network/file I/O, never raising) behind per-destination queues.

The pipeline uses only `factory.build_destinations(settings, stats, resolve_secret, resource)`
and the `destination.Destination` API (`start`, `offer`, `flush(deadline)`, `needs_flush`,
`pending_items`, `shutdown(deadline)`); deadlines are `loop.time()` values. Nothing heavy is
imported here, so importing the package stays cheap.
"""
