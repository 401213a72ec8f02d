"""The review app's page: one self-contained HTML file (inline CSS and script, no network asset).

The page is ``app.html`` beside this module. Its Content Security Policy allows its own inline
script and style by their SHA-256 only, and fetches and images from the app's own origin only.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from typing import Final

__all__ = ["PAGE", "PAGE_CSP"]

PAGE: Final = files(__package__).joinpath("app.html").read_text(encoding="utf-8")


def _hashes(tag: str) -> str:
    """The CSP sources of every inline ``<tag>`` of the page: ``'sha256-...'``."""
    bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", PAGE, flags=re.DOTALL)
    digests = (base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() for b in bodies)
    return " ".join(f"'sha256-{d}'" for d in digests)


PAGE_CSP: Final = (
    f"default-src 'none'; script-src {_hashes('script')}; style-src {_hashes('style')}; "
    "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
