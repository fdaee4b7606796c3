"""The client's windows: tray, overlay, settings, history and drop windows, and the app that
wires them to the services in :mod:`capswriter.client` (which know no widget).
"""
