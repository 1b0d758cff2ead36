"""Phases and what participants may see (the Kaggle / Codabench practice).

* ``public`` phase: scores on the public part of the test tomograms (see
  :class:`~leaderboard.config.LeaderboardParams`) are shown; scores on the whole
  test split are computed at upload but kept hidden.
* ``final`` phase, set by the organizer (``tomobench leaderboard phase reveal``):
  the scores on all test tomograms are shown too (and are the default view).
* ``blind`` (a switch, in either phase): no score is shown to participants, not
  even their own report on upload; the organizer still sees everything via the CLI.

Every upload is scored for both phases at once, so revealing needs no rescoring.
"""

from __future__ import annotations

import math

from leaderboard.config import PHASES, LeaderboardParams
from leaderboard.store import Store
from tomobench.errors import InputError
from tomobench.groundtruth import find_truth_folders

PHASE_KEY = "phase"
BLIND_KEY = "blind"
DATE_KEYS = {"public_start": "public phase opens", "public_end": "public phase closes",
             "final_reveal": "final ranking revealed"}     # settings "date_<key>" (ISO dates, UTC)


def current_phase(store: Store) -> str:
    """The phase set in the store, ``"public"`` when none (or an unknown one) is set.

    Parameters
    ----------
    store : Store
        The submissions store holding the setting.
    """
    phase = store.get_setting(PHASE_KEY, "public")
    return phase if phase in PHASES else "public"


def set_phase(store: Store, phase: str) -> None:
    """Set the current phase.

    Parameters
    ----------
    store : Store
        The submissions store holding the setting.
    phase : str
        One of ``PHASES``; any other value raises :class:`~tomobench.errors.InputError`.
    """
    if phase not in PHASES:
        raise InputError(f"unknown phase {phase!r}; choose one of {', '.join(PHASES)}")
    store.set_setting(PHASE_KEY, phase)


def is_blind(store: Store) -> bool:
    """Whether scores are hidden from participants (the ``blind`` switch).

    Parameters
    ----------
    store : Store
        The submissions store holding the setting.
    """
    return store.get_setting(BLIND_KEY, "0") == "1"


def set_blind(store: Store, blind: bool) -> None:
    """Turn the ``blind`` switch on or off.

    Parameters
    ----------
    store : Store
        The submissions store holding the setting.
    blind : bool
        True hides every score from participants.
    """
    store.set_setting(BLIND_KEY, "1" if blind else "0")


def visible_phases(store: Store) -> list[str]:
    """Phases whose scores participants may see, the default view first."""
    if is_blind(store):
        return []
    return ["final", "public"] if current_phase(store) == "final" else ["public"]


def test_tomograms(params: LeaderboardParams) -> list[str]:
    """Names of the test tomograms (folders of the private truth), sorted."""
    return sorted(find_truth_folders(params.private_truth_dir))


def public_tomograms(params: LeaderboardParams) -> list[str]:
    """The test tomograms of the public phase (``public_tomos`` or the first fraction, at least one)."""
    names = test_tomograms(params)
    if params.public_tomos:
        unknown = sorted(set(params.public_tomos) - set(names))
        if unknown:
            raise InputError(f"leaderboard.public_tomos names {unknown}, which are not test tomograms "
                             f"(those are {names})")
        return [n for n in names if n in set(params.public_tomos)]
    return names[: max(1, math.ceil(params.public_fraction * len(names)))]



def phase_dates(store: Store) -> dict[str, str]:
    """The organizers' announced dates (``DATE_KEYS`` -> ISO date), only those set."""
    settings = store.settings()
    return {k: settings[f"date_{k}"] for k in DATE_KEYS if settings.get(f"date_{k}")}


def set_phase_date(store: Store, key: str, value: str) -> None:
    """Set (ISO ``YYYY-MM-DD``) or clear (``""``) one of :data:`DATE_KEYS`."""
    from datetime import date

    if key not in DATE_KEYS:
        raise InputError(f"unknown date {key!r}; choose one of {', '.join(DATE_KEYS)}")
    if value:
        try:
            value = date.fromisoformat(value).isoformat()
        except ValueError:
            raise InputError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    store.set_setting(f"date_{key}", value)
