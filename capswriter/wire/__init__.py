"""What the server and its clients share, and all a client or tool imports of the server.

``protocol`` (the WebSocket messages), ``health`` (the ``/health`` report), ``errors`` (what each
error code means: final or not, its HTTP status), ``client`` (the WebSocket client helper) and
``broker`` (Redis keys and messages between a server and its remote workers). Nothing here
imports FastAPI, the pool or a model.
"""
