"""Real backends on loopback, for the test suite, the demo and the benchmarks alike.

Each runs in a background thread of the calling process, binds ``127.0.0.1`` on a free port and
speaks the real protocol, so the extension under test (in a subprocess) cannot tell them from
the services they stand in for:

- :mod:`~emulator.backends.otlp_receivers`: OTLP/HTTP and OTLP/gRPC receivers that decode real
  protobuf and can be told to fail (503 + Retry-After, hang, close the connection, partial
  success);
- :mod:`~emulator.backends.moto_server`: moto's server for Secrets Manager and SSM;
- :mod:`~emulator.backends.appconfig_server`: the AppConfig data plane (sessions, tokens,
  versions);
- :mod:`~emulator.backends.fault_proxy`: an HTTP proxy that counts calls per operation and
  injects faults;
- :mod:`~emulator.backends.background_http`: the background HTTP server lifecycle they share.

They need the development extras (moto, grpcio) that the layer does not ship.
"""
