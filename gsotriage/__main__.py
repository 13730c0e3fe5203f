from gsotriage.cli import entry

entry()
