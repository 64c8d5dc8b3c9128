"""Test-wide guards: no test may reach beyond 127.0.0.1."""

import ipaddress
import socket

import pytest

_real_connect = socket.socket.connect
_real_create_connection = socket.create_connection


def _is_loopback(address) -> bool:
    if isinstance(address, str | bytes):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self, address):
    if not _is_loopback(address):
        raise RuntimeError(f"tests may not connect beyond loopback: {address!r}")
    return _real_connect(self, address)


def _guarded_create_connection(address, *args, **kwargs):
    if not _is_loopback(address):
        raise RuntimeError(f"tests may not connect beyond loopback: {address!r}")
    return _real_create_connection(address, *args, **kwargs)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket, "create_connection", _guarded_create_connection)


@pytest.fixture(autouse=True, scope="session")
def _compile_cache_in_tmp(tmp_path_factory):
    """Generated steps go to a temporary compile cache, not the user's."""
    import os

    previous = os.environ.get("SQFAST_CACHE_DIR")
    os.environ["SQFAST_CACHE_DIR"] = str(tmp_path_factory.mktemp("sqfast-cache"))
    yield
    if previous is None:
        os.environ.pop("SQFAST_CACHE_DIR", None)
    else:
        os.environ["SQFAST_CACHE_DIR"] = previous
