"""Helpers only tests use. The real backends (OTLP receivers, moto, AppConfig data plane, fault
proxy) live in :mod:`emulator.backends`, shared with the demo and the benchmarks."""
