from vbq_cli.main import entry

entry()
