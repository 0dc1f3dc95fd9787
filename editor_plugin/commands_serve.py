"""``humanfx serve``: the plugin backend server (JSON-RPC 2.0 over stdio or loopback TCP).

``cli.build_parser`` calls :func:`register`; the server modules are imported only when the
command runs, so the CLI starts fast.  See ``docs/server.md``.
"""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path

SERVE_EPILOG = """\
stdio: one client (the process that started the server) on stdin/stdout.
tcp:   127.0.0.1 only; every client must send `auth` with the token first. Without --token
       (or $HUMANFX_TOKEN) a random token is made. The first stdout line is
       `humanfx serve: listening on 127.0.0.1:PORT token=TOKEN`.
Messages are newline-delimited JSON-RPC 2.0. See docs/server.md.
"""


def cmd_serve(args: argparse.Namespace) -> int:
    from editor_plugin.server import ServerConfig, check_loopback, serve_stdio, serve_tcp

    roots = [Path(r) for r in (args.root or [])] or [Path.cwd()]
    for r in roots:
        if not r.is_dir():
            from inference.errors import InputError

            raise InputError("--root must be an existing folder", path=r)
    config = ServerConfig(roots=roots, max_request_bytes=args.max_request_bytes)
    if args.stdio:
        serve_stdio(config)
        return 0
    host = check_loopback(args.host)
    config.token = args.token or os.environ.get("HUMANFX_TOKEN") or secrets.token_urlsafe(24)

    def ready(bound: str, port: int) -> None:
        print(f"humanfx serve: listening on {bound}:{port} token={config.token}", flush=True)

    serve_tcp(config, args.port, host=host, ready=ready)
    return 0


def _byte_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1024:
        raise argparse.ArgumentTypeError("the request limit must be at least 1024 bytes")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``serve`` to the CLI's sub-commands."""
    s = sub.add_parser("serve", help="run the plugin backend server (JSON-RPC over stdio/TCP)",
                       description="Serve humanfx to an editor plugin: open clips, import and "
                       "edit person layers, set effects, preview frames and export, over "
                       "JSON-RPC 2.0.", epilog=SERVE_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = s.add_mutually_exclusive_group(required=True)
    mode.add_argument("--stdio", action="store_true", help="serve one client on stdin/stdout")
    mode.add_argument("--port", type=int, help="serve on 127.0.0.1:PORT (0: any free port)")
    s.add_argument("--host", default="127.0.0.1", help="loopback address to bind (127.0.0.1)")
    s.add_argument("--token", help="TCP clients' token (default $HUMANFX_TOKEN or a random one)")
    s.add_argument("--root", action="append", metavar="DIR",
                   help="folder clients may read and write (repeatable; default the current "
                   "folder); a clip's own folder is allowed for its outputs")
    s.add_argument("--max-request-bytes", type=_byte_count, default=1 << 20,
                   help="largest request line (1048576)")
    s.set_defaults(func=cmd_serve)


__all__ = ["cmd_serve", "register"]
