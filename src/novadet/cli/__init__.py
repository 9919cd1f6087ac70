"""The ``novadet`` command line: parse arguments, call the Python API, print the result.

``app.py`` holds the Typer app and what every command shares (one-line errors, exit codes); ``options.py`` makes
flags from config fields, so their defaults and help are written once; ``commands.py``, ``compress.py``,
``label.py`` and ``tune.py`` hold the commands, each registered on the app when imported here.
"""

from __future__ import annotations

from novadet.cli import commands, compress, label, tune  # noqa: F401  (registers the commands)
from novadet.cli.app import app, err

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point. A usage error (an unknown option, a value outside its choices) is one
    line and exit status 2, like every other error."""
    import sys

    from typer.exceptions import TyperException
    from typer.main import get_command

    try:
        code = get_command(app).main(standalone_mode=False)
    except TyperException as exc:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        err.print(f"[bold red]error:[/] {' '.join(message.split())} (see novadet --help)", highlight=False,
                  soft_wrap=True)
        sys.exit(getattr(exc, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)
