"""``python -m novadet``: the same as the ``novadet`` command."""

from novadet.cli import main

if __name__ == "__main__":
    main()
