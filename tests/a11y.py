"""Accessibility checks run in a page open in Playwright: axe-core's WCAG 2.1 A and AA rules,
and whether the page fits a narrow window without scrolling sideways (WCAG 1.4.10, reflow: a
320 px wide window, and 640 px, which is a 1280 px window zoomed to 200 %).

axe-core is installed by ``scripts/install test`` (scripts/install_axe_core.py), pinned and
checked against its npm integrity hash; nothing is downloaded while the tests run. The pages'
Content-Security-Policy refuses injected script elements, so its source is evaluated through
Playwright (DevTools' evaluation is not subject to the page's policy), once per page load.
"""

import functools
import sys
from pathlib import Path

from playwright.sync_api import Page

AXE_VERSION = "4.14.1"
AXE_PATH = Path(sys.prefix) / "share" / f"axe-core-{AXE_VERSION}" / "axe.min.js"
# WCAG 2.0 and 2.1, levels A and AA (axe's rule tags).
WCAG_21_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
# A page's HTML as shown in a report: enough to find the element.
HTML_SHOWN = 160
NODES_SHOWN = 5

# Defines window.axe unless the page already has it (a page keeps it until it is reloaded).
_AXE_LOADED = "() => typeof window.axe === 'object' && typeof window.axe.run === 'function'"
_RUN = """async (tags) => {
  const results = await axe.run(document, {
    runOnly: { type: "tag", values: tags },
    resultTypes: ["violations"],
  });
  return results.violations.map((rule) => ({
    id: rule.id,
    impact: rule.impact,
    help: rule.help,
    helpUrl: rule.helpUrl,
    nodes: rule.nodes.map((node) => ({
      target: node.target.map(String),
      html: node.html,
      summary: node.failureSummary || "",
    })),
  }));
}"""


@functools.cache
def axe_source() -> str:
    """The axe-core script, as installed by scripts/install."""
    if not AXE_PATH.is_file():
        raise AssertionError(
            f"axe-core {AXE_VERSION} is not installed: {AXE_PATH} is missing. "
            "Run scripts/install test (it installs the test tools and axe-core)."
        )
    return AXE_PATH.read_text(encoding="utf-8")


def audit(page: Page) -> list[dict]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now: one dict per rule broken
    (id, impact, help, helpUrl, nodes: target selectors, html, summary)."""
    if not page.evaluate(_AXE_LOADED):
        # An expression, not a function: the library defines window.axe when it runs.
        page.evaluate(axe_source() + "\n;void 0")
    return page.evaluate(_RUN, list(WCAG_21_AA))


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def violations_text(violations: list[dict]) -> str:
    """A readable list: each rule with its impact and help, then the elements that fail it."""
    lines = []
    for rule in violations:
        lines.append(f"  [{rule['impact']}] {rule['id']}: {rule['help']} ({len(rule['nodes'])})")
        for node in rule["nodes"][:NODES_SHOWN]:
            lines.append(f"      {' '.join(node['target'])}  {_short(node['html'], HTML_SHOWN)}")
        if len(rule["nodes"]) > NODES_SHOWN:
            lines.append(f"      … and {len(rule['nodes']) - NODES_SHOWN} more")
    return "\n".join(lines)


# The page is wider than its window when the document or the body scrolls sideways. What sticks
# out is every element whose right edge is past the window, unless a box between it and its
# containing block clips it (overflow other than visible: a scroll box the person can scroll,
# or content cut off on purpose). Absolutely positioned elements are only clipped by boxes in
# their containing block chain, so visually hidden text that escapes a table's scroll box
# (its containing block is further out) counts.
_TOO_WIDE = """() => {
  const view = document.documentElement.clientWidth;
  const widths = {
    document: document.documentElement.scrollWidth,
    body: document.body ? document.body.scrollWidth : 0,
  };
  if (widths.document <= view && widths.body <= view) return null;
  const establishes = (style) =>
    style.position !== "static" || style.transform !== "none" || style.filter !== "none"
    || /paint|layout|strict|content/.test(style.contain);
  const clipped = (element) => {
    const own = getComputedStyle(element).position;
    if (own === "fixed") return false;
    let lookingForContainingBlock = own === "absolute";
    for (let box = element.parentElement; box && box !== document.body; box = box.parentElement) {
      const style = getComputedStyle(box);
      if (lookingForContainingBlock && !establishes(style)) continue;
      if (style.overflowX !== "visible") return true;
      if (style.position === "fixed") return false;
      lookingForContainingBlock = style.position === "absolute";
    }
    return false;
  };
  const describe = (element) => {
    let name = element.tagName.toLowerCase();
    if (element.id) name += "#" + element.id;
    for (const cls of element.classList) name += "." + cls;
    const text = (element.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 50);
    return text ? `${name} "${text}"` : name;
  };
  const out = [];
  for (const element of document.body.querySelectorAll("*")) {
    const box = element.getBoundingClientRect();
    const right = box.right + window.scrollX;
    if ((box.width === 0 && box.height === 0) || right <= view + 0.5) continue;
    if (!clipped(element)) out.push([Math.round(right), describe(element)]);
  }
  out.sort((a, b) => b[0] - a[0]);
  return { view, widths, elements: out };
}"""
_NEXT_FRAMES = (
    "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
)
ELEMENTS_SHOWN = 5


def too_wide(page: Page) -> str | None:
    """None if the page fits its window's width, else how wide it is and the elements that
    stick out furthest."""
    page.evaluate(_NEXT_FRAMES)  # laid out and painted at the window's current size
    found = page.evaluate(_TOO_WIDE)
    if found is None:
        return None
    widest = max(found["widths"].values())
    shown = [f"{right} px: {what}" for right, what in found["elements"][:ELEMENTS_SHOWN]]
    more = len(found["elements"]) - len(shown)
    return (
        f"{widest} px wide in a {found['view']} px window; sticking out: "
        + ("; ".join(shown) if shown else "nothing found (a scroll box's content?)")
        + (f"; and {more} more" if more > 0 else "")
    )
