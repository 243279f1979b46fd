"""The README's report screenshot: the README example rendered in headless chromium, one phrase focused.

    python scripts/report_screenshot.py [--out docs/report.png]

Runs `mia generate --limit 5` and `mia report` (the README example) in a temporary folder, then shows the page
in chromium with its first phrase of the second pair hovered and clicked (as a reader would) and the heads
table hidden (to fit one screen), and saves the screenshot. Needs chromium (`apt-get install -y chromium`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mia.cli import main as mia  # noqa: E402

SHOW = """<script>
(function () {
  const select = document.getElementById("pair-select");
  if (select && select.options.length > 1) { select.value = "1"; select.dispatchEvent(new Event("change")); }
  const mark = document.querySelector("#text-a mark.ph");
  if (mark) {
    mark.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    mark.dispatchEvent(new MouseEvent("click", { bubbles: true }));
  }
  document.getElementById("head-table").style.display = "none";  // the 72-row table: to fit one screen
})();
</script>"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "report.png"))
    args = parser.parse_args()
    browser = shutil.which("chromium")
    if browser is None:
        raise SystemExit("chromium not found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        pairs, page = folder / "pairs.jsonl", folder / "report.html"
        if mia(["generate", "--limit", "5", "--out", str(pairs)]) or mia(["report", "--pairs", str(pairs),
                                                                            "--out", str(page)]):
            raise SystemExit("the README example failed")
        shown = folder / "shown.html"
        shown.write_text(page.read_text().replace("</body>", SHOW + "</body>"))
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--no-first-run", f"--user-data-dir={folder / 'profile'}", "--window-size=1280,1900",
                        "--hide-scrollbars", f"--screenshot={Path(args.out).resolve()}", shown.as_uri()],
                       check=True, capture_output=True, timeout=120)
    print(f"screenshot written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
