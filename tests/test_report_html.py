"""The HTML report: one self-contained page, hostile text escaped, and in a real headless browser no console
errors, the expected phrases, and a phrase's partner highlighted on hover."""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mia.cli import main
from mia.detector.detector import Detector
from mia.heads.patch_file import read_patch_file
from mia.report.html import render_html, report_page, script_json
from mia.report.report_data import report_data
from mia.text.pairs import Pair
from tests.test_patching import hand_made_patch

HOSTILE = "It said </script><script>document.title='owned'</script> and <!-- then <b>bold</b> & \u2028 more."


@pytest.fixture(scope="module")
def page_data(trained_detector_dir, minilm, small_pairs, tmp_path_factory):
    detector = Detector.load(trained_detector_dir)
    text = small_pairs[10].a
    pairs = [small_pairs[10], Pair("hostile", HOSTILE + " " + text, text + " " + HOSTILE)]
    patch_file = tmp_path_factory.mktemp("patch") / "patch.json"
    patch_file.write_text(json.dumps(hand_made_patch(detector)))
    return report_data(detector, minilm, detector.iter_detect(minilm, pairs, min_phrase_words=2), name="test",
                       patch=read_patch_file(str(patch_file), detector),
                       compare=(Detector.load("minilm-reuse"), "minilm-reuse"))


class Structure(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.urls: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs))
        self.urls += [value or "" for name, value in attrs if name in ("src", "href", "action", "srcset")]
        if tag not in ("meta", "br", "img", "input", "link"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()


def test_page_is_self_contained_and_escapes_hostile_text(page_data):
    page = str(render_html(page_data))
    parser = Structure()
    parser.feed(page)
    assert parser.open == []  # every element closed where it opened: the hostile text broke nothing
    assert [s.get("type") for s in parser.scripts] == ["application/json", None]
    assert parser.urls == [] and not re.search(r"url\(|@import|https?://", page.split('id="mia-data">')[0])
    blob = page.split('<script type="application/json" id="mia-data">')[1].split("</script>")[0]
    assert json.loads(blob) == json.loads(json.dumps(page_data))  # the data round-trip exactly
    assert "</script><script>document" not in page and "<!--" not in page and "\u2028" not in blob
    assert script_json({"t": "</script>"}) == '{"t":"\\u003c/script\\u003e"}'


def test_report_cli_html_and_json(trained_detector_dir, small_pairs, tmp_path, capsys):
    from mia.text.pairs import write_pairs

    pairs = tmp_path / "pairs.jsonl"
    write_pairs(small_pairs[:2], pairs)
    out = tmp_path / "report.html"
    assert main(["report", "--detector", str(trained_detector_dir), "--pairs", str(pairs), "--out", str(out)]) == 0
    assert "report written" in capsys.readouterr().err and out.read_text().startswith("<!DOCTYPE html>")
    as_json = tmp_path / "report.json"
    assert main(["report", "--detector", str(trained_detector_dir), "--pairs", str(pairs), "--out", str(as_json),
                 "--format", "json"]) == 0
    data = json.loads(as_json.read_text())
    assert [p["id"] for p in data["pairs"]] == [p.id for p in small_pairs[:2]] and len(data["heads"]["summaries"])
    assert main(["report", "--detector", str(trained_detector_dir), "--out", str(tmp_path / "card.html")]) == 0
    assert main(["report", "--pairs", str(pairs), "--a-file", str(pairs), "--out", str(tmp_path / "x.html")]) == 2
    assert not (tmp_path / "x.html").exists()


def test_report_sets_two_detectors_of_one_model_side_by_side(trained_detector_dir, tmp_path):
    out = tmp_path / "report.json"
    assert main(["report", "--detector", str(trained_detector_dir), "--compare", "minilm-reuse", "--format", "json",
                 "--out", str(out)]) == 0
    compared = json.loads(out.read_text())["compare"]
    assert compared["other"] == "minilm-reuse" and compared["other_relation"].startswith("verbatim")
    rankings = {row["ranking"]: row for row in compared["rankings"]}
    assert "heads by own held-out ROC AUC (primary)" in rankings  # the feature columns differ: no column ranking
    assert all(-1.0 <= row["spearman"] <= 1.0 and 0 <= row["top10_common"] <= 10 for row in rankings.values())
    assert compared["specific"] is None or set(compared["specific"]) == {"this", "other"}
    assert main(["report", "--detector", str(trained_detector_dir), "--compare", "no-such-detector",
                 "--out", str(tmp_path / "x.html")]) == 2
    assert not (tmp_path / "x.html").exists()


def test_notebook_display(page_data):
    report = render_html(page_data)
    frame = report._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and "<script>" not in frame  # the page is escaped into the frame


def browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


SELF_TEST = """<script>
window.__errors = [];
window.addEventListener("error", (e) => window.__errors.push(String(e.message)));
</script>"""
PROBE = """<script>
(function () {
  const marks = document.querySelectorAll("#text-a mark.ph");
  const phrases = new Set([...marks].flatMap((m) => m.dataset.ps.split(" ")));
  const first = marks[0];
  first.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
  const partner = document.querySelector(`#text-b mark.ph[data-ps~="${first.dataset.p}"]`);
  const info = document.getElementById("phrase-info").textContent;
  document.body.setAttribute("data-result", JSON.stringify({
    phrases: phrases.size, partner_active: partner.classList.contains("active"), info: info,
    ready: document.body.dataset.ready, errors: window.__errors, title: document.title,
    coloured: getComputedStyle(partner).backgroundColor !== "rgba(0, 0, 0, 0)",
    head_rows: document.querySelectorAll("#head-table tr").length - 1,
    causal_shown: !document.getElementById("causal").hidden,
    causal_rows: document.querySelectorAll("#causal-table tr").length - 1,
    causal_cells: document.querySelectorAll("#causal-maps .cell").length,
    causal_first: (document.querySelector("#causal-table tr:nth-child(2) td") || {}).textContent,
    compare_shown: !document.getElementById("compare").hidden,
    compare_rows: document.querySelectorAll("#compare-table tr").length - 1 }));
})();
</script>"""


def test_page_in_a_real_browser(page_data, tmp_path):
    binary = browser()
    if binary is None:
        message = "no chromium here: apt-get install -y chromium (the CI script installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    page = str(render_html(page_data))
    head, rest = page.split("<script type=\"application/json\"", 1)
    page = head + SELF_TEST + "<script type=\"application/json\"" + rest.replace("</body>", PROBE + "</body>")
    path = tmp_path / "report.html"
    path.write_text(page)
    run = subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", "--dump-dom",
         path.as_uri()], capture_output=True, text=True, timeout=120)
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
    dom = run.stdout
    found = re.search(r'data-result="([^"]*)"', dom)
    assert found, dom[-2000:]
    result = json.loads(html.unescape(found.group(1)))
    assert result["errors"] == [] and result["ready"] == "true"
    first = page_data["pairs"][0]
    assert result["phrases"] == len(first["phrases"]) > 0
    assert result["partner_active"] and result["coloured"] and "phrase" in result["info"]
    assert result["head_rows"] == 72 and result["title"].startswith("mia report")  # the hostile text ran nothing
    # readers and computers: three maps of 72 heads, one row a head, sorted by necessity (L5H11 has the largest)
    assert result["causal_shown"] and result["causal_rows"] == 72 and result["causal_cells"] == 3 * 72
    assert result["causal_first"] == "L5H11"
    assert result["compare_shown"] and result["compare_rows"] == len(page_data["compare"]["rankings"]) >= 2


def screenshot(page: Path, out: Path, binary: str, profile: Path) -> None:
    subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--no-first-run", f"--user-data-dir={profile}", "--window-size=1280,1800", "--hide-scrollbars",
                    f"--screenshot={out}", page.as_uri()], capture_output=True, timeout=120, check=True)


def test_notebook_api_and_long_documents(trained_detector_dir, minilm, small_pairs):
    detector = Detector.load(trained_detector_dir)
    card_only = report_page(detector)  # no pairs: the detector card and heads
    assert card_only.data["pairs"] == [] and "mia-data" in str(card_only)
    a = " ".join(p.a for p in small_pairs[:12])
    b = " ".join(p.b for p in reversed(small_pairs[:12]))
    report = report_page(detector, minilm, pairs=[Pair("long", a, b)], candidates="all")
    entry = report.data["pairs"][0]
    assert entry["windows"] and not entry["windows"]["whole"] and entry["phrases"]
    assert "qk" not in entry  # head views only for pairs that fit whole: nothing n_a x n_b in the page
    assert len(str(report)) < 40 * (len(a) + len(b)) + 200_000
