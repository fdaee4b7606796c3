"""The desktop client: tray, push-to-talk hotkey, recorder, text output, history."""
