"""The `streetwatch` command: one front door that wires each domain package's commands together."""
