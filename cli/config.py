"""Where issuectl connects and with which token: flags, then environment, then the login file.

The login file is JSON (`{"server": ..., "token": ...}`) in the user's config
directory (platformdirs: `$XDG_CONFIG_HOME/issuectl/login.json` on Linux),
readable by its owner only, since it holds a bearer token.
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from dataclasses import dataclass

from .errors import CliError

DEFAULT_SERVER = "127.0.0.1:50051"
SERVER_ENV = "ISSUES_SERVER"
TOKEN_ENV = "ISSUES_TOKEN"


@dataclass(frozen=True)
class Settings:
    server: str  # as given: `host:port`, `http://host:port` or `https://host:port`
    token: str | None
    tls: bool

    @property
    def target(self) -> str:
        """The gRPC target (`host:port`), without any scheme."""
        return self.server.split("://", 1)[1] if "://" in self.server else self.server


def login_file() -> pathlib.Path:
    # Imported here: only login and the fallback path need it.
    import platformdirs

    return pathlib.Path(platformdirs.user_config_dir("issuectl")) / "login.json"


def read_login() -> dict[str, str]:
    """The saved server and token, or {} when nobody logged in."""
    path = login_file()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {path}: {exc}; run `issuectl login` again") from None
    if not isinstance(data, dict):
        raise CliError(f"{path} is not a login file; run `issuectl login` again")
    return {k: v for k, v in data.items() if isinstance(v, str)}


def write_login(server: str, token: str) -> pathlib.Path:
    """Save server and token in a file only its owner may read, replacing it atomically."""
    path = login_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # mkstemp creates the file 0600 from the start: the token is never world-readable.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".login-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"server": server, "token": token}, f)
            f.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return path


def resolve(server: str | None, token: str | None, tls: bool) -> Settings:
    """Each setting from its flag, else its environment variable, else the login file."""
    saved: dict[str, str] | None = None
    if server is None:
        server = os.environ.get(SERVER_ENV) or None
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    if server is None or token is None:
        saved = read_login()
        server = server or saved.get("server") or DEFAULT_SERVER
        token = token or saved.get("token") or None
    scheme = server.split("://", 1)[0].lower() if "://" in server else ""
    if scheme not in ("", "http", "https"):
        raise CliError(f"server {server!r}: use host:port, http://host:port or https://host:port")
    return Settings(server=server, token=token, tls=tls or scheme == "https")
