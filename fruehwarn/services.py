"""Starting the long-running parts as child processes (the Streamlit dashboard)."""

from __future__ import annotations

import subprocess
import time

import httpx

from config import Settings


def dashboard_env(settings: Settings) -> dict[str, str]:
    """Environment that points a dashboard process at the same settings and database."""
    from dashboard.launch import environment

    env = environment(settings)
    env.update({
        "FRUEHWARN_SECRET_KEY": settings.secret_key.get_secret_value(),
        "FRUEHWARN_DASHBOARD__PORT": str(settings.dashboard.port),
        "FRUEHWARN_DASHBOARD__HOST": settings.dashboard.host,
    })
    return env


def dashboard_url(settings: Settings) -> str:
    return f"http://{settings.dashboard.host}:{settings.dashboard.port}"


def start_dashboard(settings: Settings, *, wait: float = 60.0) -> subprocess.Popen[bytes]:
    """Start the Streamlit dashboard and wait until its health endpoint answers."""
    from dashboard.launch import command

    log_path = settings.data_dir / "dashboard.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(command(settings), env=dashboard_env(settings), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    health = dashboard_url(settings) + "/_stcore/health"
    end = time.monotonic() + wait
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"dashboard exited with {proc.returncode}; see {log_path}")
        try:
            if httpx.get(health, timeout=1).text.strip() == "ok":
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError(f"dashboard did not answer on {health} within {wait:.0f}s; see {log_path}")
