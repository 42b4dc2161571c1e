"""Reusable test support: real backends on loopback.

- `otlp_receivers.OtlpHttpReceiver` / `OtlpGrpcReceiver`: OTLP receivers that decode real
  protobuf and can be told to fail (503 + Retry-After, hang, close the connection, partial
  success); see that module's docstring for a usage example.
- `moto_server`: a moto server for the AWS APIs.
"""
