"""The desktop client: tray, push-to-talk hotkey, recorder, text output, history.

Entry point: :func:`capswriter.client.ui.app.run_client` (``capswriter client``).
"""
