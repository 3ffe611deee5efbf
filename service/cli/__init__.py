"""The ``partnermatch`` command line, on top of the library (the library never imports it)."""

from service.cli.main import app, main

__all__ = ["app", "main"]
