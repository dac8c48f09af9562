"""One module per ``glassnet`` subcommand, each with ``add_args(parser)`` and ``run(args)``.

glassnet.cli.main lists them in its command table and loads each by name.
"""
