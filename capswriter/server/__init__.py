"""The local recognition server: worker pool, scheduling, sessions and the HTTP API.

Start it with ``capswriter.server.startup.run_server``. Clients and tools never import this
package: what they share with the server is in ``capswriter.wire``.
"""
