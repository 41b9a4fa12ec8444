"""Content negotiation of the public surface: HTML to browsers, JSON to machines."""

from __future__ import annotations


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media:
            ranges.append((media.lower(), quality))
    return ranges


def prefers_html(accept: str | None) -> bool:
    """Whether a client prefers HTML over JSON: browsers say text/html; machines, curl (*/*) and clients
    that send nothing get JSON."""
    if not accept:
        return False
    ranges = _media_ranges(accept)

    def quality(media: str) -> float:
        exact = [q for m, q in ranges if m == media]
        if exact:
            return max(exact)
        family = [q for m, q in ranges if m == media.split("/")[0] + "/*"]
        if family:
            return max(family)
        return max((q for m, q in ranges if m == "*/*"), default=0.0)

    html_q = quality("text/html")
    json_q = max(quality("application/json"), quality("application/ld+json"))
    exact_html = any(m == "text/html" for m, _ in ranges)
    return html_q > json_q or (exact_html and html_q > 0 and html_q >= json_q)
