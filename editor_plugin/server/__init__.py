"""The humanfx plugin backend server (``humanfx serve``): JSON-RPC 2.0 for editor plugins.

See ``docs/server.md``.  :func:`serve_stdio` and :func:`serve_tcp` run it;
:mod:`editor_plugin.client` drives it from Python.
"""

from editor_plugin.server.protocol import RpcError
from editor_plugin.server.server import ServerConfig, check_loopback, serve_stdio, serve_tcp

__all__ = ["RpcError", "ServerConfig", "check_loopback", "serve_stdio", "serve_tcp"]
