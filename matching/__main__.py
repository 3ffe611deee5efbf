"""``python -m matching``: the partnermatch command line."""

from matching.cli import main

if __name__ == "__main__":
    main()
