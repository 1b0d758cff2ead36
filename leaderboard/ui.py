"""Small helpers shared by the pages: user text shown literally, incidents logged with an id.

Streamlit renders the text of ``st.error``/``st.success``/``st.info`` as Markdown; a
class name or a file's field quoted in a refusal is user text and must show as
typed (no bold, links, LaTeX, colour directives or HTML): :func:`literal`
backslash-escapes every ASCII punctuation character, which CommonMark then
shows as the character itself.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys

LOG = logging.getLogger("tomobench.leaderboard")
_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")     # all ASCII punctuation
APOLOGY = ("Sorry, something went wrong on our side{what} (incident {incident}). Nothing was stored. "
           "Please try again later; if it happens again, send the organizers the incident id {incident}.")


def literal(text: str) -> str:
    """``text`` escaped so that Streamlit's Markdown shows it character for character, on one paragraph."""
    return _PUNCT.sub(r"\\\1", " ".join(str(text).split()))


def _logger() -> logging.Logger:
    if not LOG.handlers:                         # the server log: stderr of ``tomobench leaderboard serve``
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        LOG.addHandler(handler)
        LOG.setLevel(logging.INFO)
        LOG.propagate = False
    return LOG


def report_incident(exc: BaseException, where: str) -> str:
    """Log ``exc`` with its traceback under a new incident id (8 hex digits) and return the id."""
    incident = secrets.token_hex(4)
    _logger().error("incident %s in %s: %s: %s", incident, where, type(exc).__name__, exc, exc_info=exc)
    return incident


def apology(incident: str, what: str = "") -> str:
    """The message shown for an unexpected failure, naming the incident id the log holds.

    Parameters
    ----------
    incident : str
        The incident id (from :func:`report_incident`).
    what : str
        What the app was doing, e.g. ``"scoring your upload"``; empty leaves it out.
    """
    return APOLOGY.format(incident=incident, what=f" while {what}" if what else "")
