"""A device reached over SSH with the system's ``ssh`` and ``scp``, so the user's SSH config decides
everything it decides elsewhere: keys, agents, jump hosts and host-key checking (never turned off here).
``BatchMode`` stops a password prompt from hanging a benchmark: a key is needed."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from novadet.errors import ConfigError, DeviceError

_URL = re.compile(r"ssh://(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+)(?::(?P<port>\d+))?/?")
CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class SshDevice:
    """``ssh://[user@]host[:port]``, and the SSH config file to read (None: ssh's own default)."""

    host: str
    user: str | None = None
    port: int | None = None
    config: Path | None = None

    @classmethod
    def parse(cls, url: str, config: Path | None = None) -> SshDevice:
        found = _URL.fullmatch(url)
        if found is None:
            raise ConfigError(f"{url!r}: a device is ssh://[user@]host[:port]")
        if config is not None and not config.is_file():
            raise ConfigError(f"{config}: SSH config file not found")
        port = found["port"]
        return cls(found["host"], found["user"], int(port) if port else None, config)

    @property
    def url(self) -> str:
        return f"ssh://{self.user + '@' if self.user else ''}{self.host}{f':{self.port}' if self.port else ''}"

    @property
    def target(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def run(self, command: list[str], *, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """``command`` on the device, in the remote user's home folder; a connection failure is a DeviceError."""
        done = subprocess.run([_tool("ssh"), *self._options("-p"), self.target, shlex.join(command)],
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode == 255:  # ssh's own failure, never the command's
            raise DeviceError(f"{self.url}: {_last_line(done.stderr) or 'ssh failed'}")
        return done

    def put(self, local: list[Path], remote_dir: str) -> None:
        """Copy files and folders into ``remote_dir`` (relative to the remote home), which must exist."""
        self._scp([str(p) for p in local], f"{self.target}:{remote_dir}/")

    def get(self, remote: str, local: Path) -> None:
        self._scp([f"{self.target}:{remote}"], str(local))

    def check(self) -> None:
        """Reach the device once, before any work: a refused connection or an unknown host key says so."""
        self.run(["true"], timeout=CONNECT_TIMEOUT_S * 3)

    def _scp(self, sources: list[str], destination: str) -> None:
        done = subprocess.run([_tool("scp"), "-q", "-r", *self._options("-P"), *sources, destination],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise DeviceError(f"{self.url}: copying failed: {_last_line(done.stderr) or 'scp failed'}")

    def _options(self, port_flag: str) -> list[str]:
        options = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}"]
        if self.config is not None:
            options += ["-F", str(self.config)]
        return options + ([port_flag, str(self.port)] if self.port else [])


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise DeviceError(f"{name} not found on this machine; install OpenSSH's client (apt-get install "
                          "openssh-client)")
    return found


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
