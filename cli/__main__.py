"""``python -m cli``: the same as the ``mmarchive`` command."""

from cli.main import main

main()
