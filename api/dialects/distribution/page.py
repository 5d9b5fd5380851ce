"""The public product page: server-rendered HTML that works without JavaScript, sized for a phone,
with a QR code (inline SVG) of its own address. Every text is escaped; nothing comes from the query."""

from __future__ import annotations

import html
from urllib.parse import quote

import segno

from api.dialects.distribution.shapes import ts

PLATFORM_NAMES = {
    "ios": "iOS",
    "android": "Android",
    "macos": "macOS",
    "windows": "Windows",
    "linux": "Linux",
}
# What the UDID callback's redirect tells the tester (?udid=bound); a refused callback is a 400 instead.
OUTCOMES = {"bound": "This device is registered. A build that includes it can now be installed."}

_STYLE = """
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;
color:#1b1f24;background:#f6f7f9}main{max-width:40rem;margin:0 auto;padding:1rem}
header{display:flex;gap:1rem;align-items:center}header img{width:72px;height:72px;border-radius:16px}
h1{font-size:1.5rem;margin:.2rem 0}section{background:#fff;border-radius:12px;padding:1rem;margin:1rem 0;
box-shadow:0 1px 3px rgba(0,0,0,.08)}h2{font-size:1.15rem;margin:0 0 .5rem}
.meta{color:#57606a;font-size:.9rem;margin:0}.notes{white-space:pre-line}
form{margin:.75rem 0 0}button{font:inherit;font-weight:600;width:100%;padding:.8rem 1rem;border:0;
border-radius:10px;background:#0a66d8;color:#fff;cursor:pointer;min-height:48px}
button:focus-visible{outline:3px solid #f0a000;outline-offset:2px}button.secondary{background:#e9eef5;color:#0a3d80}
details ul{padding-left:1.2rem}details form{margin:.25rem 0 .75rem}.qr{text-align:center}
.qr svg{width:180px;height:180px}.notice{background:#e7f6ec;border-radius:8px;padding:.75rem}
"""


def size_text(size: int | None) -> str:
    if not size:
        return ""
    amount = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{size} {unit}" if unit == "bytes" else f"{amount:.1f} {unit}"
        amount /= 1024
    return ""


def _button(action: str, label: str, secondary: bool = False, hidden: dict | None = None) -> str:
    """A real button in a GET form: it works without JavaScript and reads as a button to assistive tech."""
    cls = ' class="secondary"' if secondary else ""
    fields = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in (hidden or {}).items()
    )
    return (
        f'<form method="get" action="{html.escape(action)}">{fields}'
        f'<button type="submit"{cls}>{html.escape(label)}</button></form>'
    )


def _release_line(b) -> str:
    parts = [f"Version {b.version}"]
    if b.build_number is not None:
        parts.append(f"build {b.build_number}")
    if b.file_size:
        parts.append(size_text(b.file_size))
    parts.append((ts(b.created_at) or "")[:10])
    return " · ".join(html.escape(p) for p in parts)


def render(page, page_url: str, icon_url: str | None, outcome: str | None) -> str:
    app = page.app
    title = html.escape(app.title)
    out = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}: download</title><style>{_STYLE}</style></head><body><main>",
        "<header>",
    ]
    if icon_url:
        out.append(f'<img src="{html.escape(icon_url)}" alt="{title} icon" width="72" height="72">')
    out.append(f"<div><h1>{title}</h1>")
    if app.description:
        out.append(f'<p class="meta">{html.escape(app.description)}</p>')
    out.append("</div></header>")
    if outcome in OUTCOMES:
        out.append(f'<p class="notice" role="status">{OUTCOMES[outcome]}</p>')
    if not page.variants or not any(page.releases.values()):
        out.append("<section><p>No release is available yet.</p></section>")
    base = f"/products/{quote(app.slug)}"
    for v in page.variants:
        releases = page.releases.get(v.id, [])
        if not releases:
            continue
        latest, older = releases[0], releases[1:]
        platform = PLATFORM_NAMES.get(v.platform, v.platform)
        label = f"{v.display_name} ({platform}{', ' + v.arch if v.arch else ''})"
        out.append(
            f'<section aria-labelledby="v-{v.public_id}"><h2 id="v-{v.public_id}">{html.escape(label)}</h2>'
        )
        out.append(f'<p class="meta">{_release_line(latest)}</p>')
        if latest.changelog:
            out.append(f'<p class="notes">{html.escape(latest.changelog)}</p>')
        verb = "Install" if v.platform == "ios" else "Download"
        out.append(_button(f"{base}/get/{latest.release_id}", f"{verb} {latest.version}"))
        if v.platform == "ios":
            out.append(
                _button("/udid/profile.mobileconfig", "Register this device", True, {"variant": v.public_id})
            )
        if older:
            out.append(f"<details><summary>Older releases ({len(older)})</summary><ul>")
            for b in older:
                out.append(f"<li><span>{_release_line(b)}</span>")
                out.append(_button(f"{base}/get/{b.release_id}", f"{verb} {b.version}", secondary=True))
                out.append("</li>")
            out.append("</ul></details>")
        out.append("</section>")
    qr = segno.make(page_url, error="m").svg_inline(scale=4, title=f"QR code: {page_url}")
    out.append(
        f'<section class="qr"><h2>Open on another device</h2><figure role="img" aria-label="QR code of {html.escape(page_url)}">'
        f'{qr}</figure><p class="meta">{html.escape(page_url)}</p></section>'
    )
    out.append("</main></body></html>")
    return "".join(out)


def not_found() -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Not found</title>'
        f"<style>{_STYLE}</style></head><body><main><section><h1>Not found</h1>"
        "<p>This page does not exist, or is not published.</p></section></main></body></html>"
    )
