"""``python -m service``: the partnermatch command line."""

from service.cli import main

main()
