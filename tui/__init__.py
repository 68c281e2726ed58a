"""The Textual app: screens, widgets and .tcss; no business logic (that lives in engine/)."""
