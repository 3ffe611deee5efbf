"""``python -m service serve``."""

from service.cli import main

main()
