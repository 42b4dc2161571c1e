"""Process environments of the runtime and of extensions.

The runtime gets the full function environment; extensions get the same minus runtime-only
variables and every variable starting with ``_``. Neither inherits the emulator's own
environment (only ``PATH`` and ``LD_LIBRARY_PATH``), so tests see what Lambda would give them.
Extensions must not see the emulator's virtualenv: a private ``lang/bin`` directory (like
``/var/lang/bin``) whose ``python3`` sees only the standard library comes first on ``PATH``.
https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html
"""

from __future__ import annotations

import os
import secrets
import sys
import time
import venv
from pathlib import Path

from emulator.config import FunctionConfig

RUNTIME_ONLY = frozenset(
    {
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_XRAY_CONTEXT_MISSING",
        "AWS_XRAY_DAEMON_ADDRESS",
        "LAMBDA_RUNTIME_DIR",
        "LAMBDA_TASK_ROOT",
        "PYTHONPATH",
    }
)
"""Variables only the runtime sees (plus everything starting with ``_``). ``PYTHONPATH`` is set
by the runtime's bootstrap in Lambda, so extensions never inherit it."""


def base_interpreter() -> Path:
    """The real interpreter behind this (possibly virtualenv) Python, without venv packages."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return Path(os.path.realpath(base))


def make_lang_bin(root: Path) -> Path:
    """Create ``<root>/lang`` like Lambda's ``/var/lang``; returns its ``bin`` directory.

    It is a virtual environment of the *base* interpreter without system site-packages, so
    ``python3`` (also ``python``, ``python3.X``) sees the standard library only: neither the
    emulator's virtualenv nor packages installed into the host interpreter, just as an extension
    in Lambda sees only what its layer brings.
    """
    lang = root / "lang"
    builder = venv.EnvBuilder(system_site_packages=False, symlinks=True, with_pip=False)
    builder.create(lang)
    bindir = lang / "bin"
    target = base_interpreter()
    for name in ("python3", "python", f"python{sys.version_info[0]}.{sys.version_info[1]}"):
        link = bindir / name
        if not link.exists():
            link.symlink_to(target)
    return bindir


def _host_path(lang_bin: Path) -> str:
    """Host PATH without the emulator's virtualenv, behind the private lang/bin."""
    venv_bin = str(Path(sys.prefix) / "bin") if sys.prefix != sys.base_prefix else None
    parts = [
        entry for entry in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(os.pathsep) if entry
    ]
    parts = [entry for entry in parts if entry not in (venv_bin, str(lang_bin))]
    return os.pathsep.join([str(lang_bin), *parts])


def log_stream_name() -> str:
    """A Lambda-style log stream name: ``YYYY/MM/DD/[$LATEST]<32 hex>``."""
    return time.strftime("%Y/%m/%d/", time.gmtime()) + "[$LATEST]" + secrets.token_hex(16)


def function_env(config: FunctionConfig, runtime_api: str, lang_bin: Path) -> dict[str, str]:
    """The whole function environment as the runtime sees it (user ``env`` wins)."""
    pyver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    opt_python = config.opt_dir / "python"
    env = {
        "PATH": _host_path(lang_bin),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_LAMBDA_FUNCTION_NAME": config.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
        "AWS_LAMBDA_INITIALIZATION_TYPE": config.initialization_type,
        "AWS_REGION": config.region,
        "AWS_DEFAULT_REGION": config.region,
        "AWS_ACCESS_KEY_ID": "AKIAEMULATOREXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "emulator/secret/access/key/example0000000",
        "AWS_SESSION_TOKEN": "emulator-session-token-" + secrets.token_hex(16),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{pyver}",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream_name(),
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "_AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129",
        "_AWS_XRAY_DAEMON_PORT": "2000",
        "_HANDLER": config.handler,
        "LAMBDA_TASK_ROOT": str(config.task_dir),
        "LAMBDA_RUNTIME_DIR": str(Path(sys.executable).parent),
        "PYTHONPATH": os.pathsep.join(
            [
                str(config.task_dir),
                str(opt_python),
                str(opt_python / "lib" / f"python{pyver}" / "site-packages"),
            ]
        ),
    }
    if config.managed_instances:
        env["AWS_LAMBDA_MAX_CONCURRENCY"] = str(config.concurrency)
        env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"  # the default there; the user's env may override it
    if "LD_LIBRARY_PATH" in os.environ:
        env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    user = dict(config.env)
    if "PYTHONPATH" in user:  # the bootstrap's entries come first, like Lambda's
        user["PYTHONPATH"] = env["PYTHONPATH"] + os.pathsep + user["PYTHONPATH"]
    env.update(user)
    return env


def extension_env(function_environment: dict[str, str], user_env: dict[str, str]) -> dict[str, str]:
    """The function environment minus runtime-only variables and every ``_``-prefixed one.

    A ``PYTHONPATH`` the user configured explicitly is kept (it is a customer variable then).
    """
    env = {k: v for k, v in function_environment.items() if k not in RUNTIME_ONLY and not k.startswith("_")}
    if "PYTHONPATH" in user_env:
        env["PYTHONPATH"] = user_env["PYTHONPATH"]
    return env
