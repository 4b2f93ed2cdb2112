"""``python -m asgid`` runs the command line."""

from asgid.cli import main

if __name__ == "__main__":
    main()
