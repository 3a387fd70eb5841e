#!/usr/bin/env python3
"""A tiny TCP server and client for `make demo`'s checks.

  demo-tcp-echo.py PORT...              serve: answer every connection with the address it came from
  demo-tcp-echo.py --connect HOST PORT  connect, print what the server answered; exit 1 when the
                                        connection fails within 3 seconds (refused or dropped)
"""
import socket
import sys
import threading


def serve(port):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(16)
    while True:
        connection, (address, _) = listener.accept()
        try:
            connection.sendall((address + "\n").encode())
        finally:
            connection.close()


def main(arguments):
    if arguments[:1] == ["--connect"]:
        host, port = arguments[1], int(arguments[2])
        try:
            with socket.create_connection((host, port), timeout=3) as connection:
                connection.settimeout(3)
                print(connection.recv(100).decode().strip())
                return 0
        except OSError as error:
            print(f"{host}:{port}: {error}", file=sys.stderr)
            return 1
    threads = [threading.Thread(target=serve, args=(int(p),), daemon=True) for p in arguments]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
