"""The local recognition server: worker pool, scheduling, protocol, HTTP API."""
