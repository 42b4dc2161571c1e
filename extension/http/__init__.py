"""Plain-asyncio HTTP/1.1 for the extension's local listeners and outbound calls, and a blocking
client for the start-up fast path (`blocking`, standard library only).

aiohttp costs ~260 ms CPU and ~25 MB to import on every cold start (issue 13); the listeners
only need an HTTP/1.1 parser, which `httptools` (llhttp) gives for ~20 ms. Importing this package
imports nothing: use its modules directly.
"""
