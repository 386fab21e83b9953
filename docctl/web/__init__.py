"""The web layer: thin routes that parse, call a service and render."""
