"""Pre-bound cache sockets: loopback only, listening at once, EADDRINUSE reported per port."""

from __future__ import annotations

import socket

from extension.cache.sockets import bind_cache_sockets
from extension.config import CacheSettings, from_env


def test_ports_from_aws_variables() -> None:
    cache = from_env(
        {"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "3773", "AWS_APPCONFIG_EXTENSION_HTTP_PORT": "3772"}
    ).cache
    assert (cache.secrets_port, cache.appconfig_port) == (3773, 3772)
    assert (from_env({}).cache.secrets_port, from_env({}).cache.appconfig_port) == (2773, 2772)


def test_binds_loopback_and_accepts_before_serving() -> None:
    bound = bind_cache_sockets(CacheSettings(secrets_port=0, appconfig_port=0))
    try:
        assert bound.secrets is not None and bound.appconfig is not None and bound.problems == []
        host, port = bound.secrets.getsockname()
        assert host == "127.0.0.1"
        # the connection is queued in the backlog although nothing serves yet
        client = socket.create_connection(("127.0.0.1", port), timeout=2)
        client.close()
    finally:
        bound.close()


def test_port_in_use_names_the_conflicting_layer_and_keeps_the_other() -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    try:
        bound = bind_cache_sockets(CacheSettings(secrets_port=taken, appconfig_port=0))
        try:
            assert bound.secrets is None and bound.appconfig is not None
            assert len(bound.problems) == 1
            assert str(taken) in bound.problems[0] and "Parameters and Secrets" in bound.problems[0]
        finally:
            bound.close()
        bound = bind_cache_sockets(CacheSettings(secrets_port=0, appconfig_port=taken))
        try:
            assert bound.secrets is not None and bound.appconfig is None
            assert "AppConfig" in bound.problems[0]
        finally:
            bound.close()
    finally:
        blocker.close()


def test_disabled_switches() -> None:
    settings = CacheSettings(secrets_port=0, appconfig_port=0)._replace(appconfig_port_enabled=False)
    bound = bind_cache_sockets(settings)
    try:
        assert bound.secrets is not None and bound.appconfig is None and not bound.problems
    finally:
        bound.close()
