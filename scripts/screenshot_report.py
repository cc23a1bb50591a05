"""Render the newest coverage report to PNG in headless Chromium (``make report-png``).

Looks at the report as a reader would: the first screen (800x1000) and the full page.
Renders ``preview.html`` (the same HTML with ``cid:`` references pointed at the PNG files),
with the flags that keep Chromium off the network.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    previews = sorted((ROOT / "artifacts").rglob("preview.html"), key=lambda path: path.stat().st_mtime)
    if not previews:
        print("no report yet: run `make demo` first", file=sys.stderr)
        return 2
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not chromium:
        print("Chromium not found (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    preview = previews[-1]
    for name, height in (("first_screen.png", 1000), ("full_page.png", 4200)):
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run(
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    f"--user-data-dir={profile}",
                    "--hide-scrollbars",
                    f"--window-size=800,{height}",
                    f"--screenshot={preview.parent / name}",
                    preview.as_uri(),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=120,
            )
        print(preview.parent / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
