"""The demo behind `./build.sh demo`: the built layer in the local Lambda environment, end to end.

`python -m emulator.demo` starts moto, the AppConfig data-plane server and an OTLP/HTTP receiver
on loopback, runs sample functions with the layer attached (cold start, warm invokes, errors, a
timeout), and prints a summary of what the receiver got: per-invocation trace waterfalls, the
correlated logs, the cache reads, the Lambda metrics; plus `build/demo/report.html` and the raw
OTLP requests as JSON in `build/demo/otlp/`.

Modules: `scenario` (what runs), `backends` (stand-ins for AWS and the telemetry backend),
`otlp` (received data as records), `summary` (joined views), `terminal` and `report_html`
(renderers), `probe` (copied next to a sample function to report its cache reads; never
imported by the demo itself).
"""
