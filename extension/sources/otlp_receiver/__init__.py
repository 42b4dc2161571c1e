"""The OTLP receiver: the function's own spans, metrics and logs, received on 127.0.0.1 and sent
through the same pipeline as platform telemetry (README "Instrumented functions")."""
