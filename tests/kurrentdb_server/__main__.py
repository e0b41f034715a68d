"""``python -m tests.kurrentdb_server [--host 127.0.0.1] [--port 0] [--port-file PATH]``: serve until
SIGTERM or SIGINT. The port is printed, and written to ``--port-file`` once the server accepts calls."""

import argparse
import os
import signal
import sys
import threading

from .server import start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.kurrentdb_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--port-file", help="where to write the port once the server is up")
    args = parser.parse_args(argv)

    server, port, _ = start(args.host, args.port)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if args.port_file:
        partial = args.port_file + ".partial"
        with open(partial, "w") as out:
            out.write(str(port))
        os.replace(partial, args.port_file)  # readers never see half a number
    print(f"KurrentDB test server on {args.host}:{port} (insecure)", flush=True)
    stop.wait()
    server.stop(grace=1).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
