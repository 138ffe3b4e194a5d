"""`make run`: migrate, seed, then the web app (gunicorn) and the scheduler side by side, on
SQLite by default, until Ctrl-C stops both cleanly.

Each child runs in its own session, so Ctrl-C reaches this script only and each child is asked to
stop exactly once (a second signal would force the scheduler to stop without draining).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def main() -> int:
    port = os.environ.setdefault("PORT", "8000")
    os.environ.setdefault("DEBUG", "true")
    site_url = os.environ.setdefault("SITE_URL", f"http://127.0.0.1:{port}")

    manage = [PYTHON, str(ROOT / "manage.py")]
    for step in (["migrate", "--noinput"], ["seed_synthetic"], ["ensureadmin"]):
        if subprocess.run([*manage, *step], cwd=ROOT).returncode != 0:
            return 2

    gunicorn = str(Path(PYTHON).with_name("gunicorn"))
    children = [
        subprocess.Popen(
            [
                gunicorn,
                "cronicorn.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "10",
            ],
            cwd=ROOT,
            start_new_session=True,
        ),
        subprocess.Popen([*manage, "runscheduler"], cwd=ROOT, start_new_session=True),
    ]
    print(
        f"Cronicorn is starting on {site_url} (admin: {site_url}/admin/, API: {site_url}/api/, "
        f"docs: {site_url}/api/docs/). Ctrl-C stops it.",
        flush=True,
    )

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            print("Stopping the web app and the scheduler...", flush=True)
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    # If either one exits on its own (a port already in use, say), stop the other too.
    while all(child.poll() is None for child in children):
        time.sleep(0.2)
    stop(signal.SIGTERM, None)
    codes = [child.wait() for child in children]
    return 0 if stopping and not any(codes) else max(codes) or 1


if __name__ == "__main__":
    sys.exit(main())
