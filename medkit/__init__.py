"""The command line: medkit/cli.py (one table of commands) and validate.py (`medkit validate`)."""
