"""Runtime patches the plugin applies to host codebases (no file of a host is edited)."""
