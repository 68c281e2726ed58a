"""The app's five modes, one screen each, each owning its own workers."""
