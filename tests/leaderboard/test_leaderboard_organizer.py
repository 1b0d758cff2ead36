"""The Organizer page (AppTest), the audit log, paging of the charts and the small defects of issue 18."""

from __future__ import annotations

import io
import shutil

import pandas as pd
import pytest
from test_leaderboard_app import _fill_and_submit, shown

import scoring
from leaderboard import charts
from leaderboard.phases import current_phase, is_blind, phase_dates
from leaderboard.store import Submission
from leaderboard.submit import Upload, rescore_all, submit


def _org(at, token):
    at.sidebar.radio(key="page").set_value("Organizer").run()
    at.text_input(key="org_token").input(token).run()
    assert not at.exception, at.exception
    return at


def test_organizer_page_needs_the_organizer_token(app_factory, store):
    at = app_factory("Organizer")
    assert "tomobench leaderboard organizer token" in at.info[0].value and not at.button
    team_token = store.add_team("alpha")
    organizer = store.set_organizer_token()
    at.text_input(key="org_token").input(team_token).run()        # a team token is not the organizer's
    assert "not the organizer token" in at.error[0].value and not at.button
    _org(at, organizer)
    assert at.button(key="org_rescore") is not None
    assert store.set_organizer_token() != organizer                # a new one replaces it
    at.run()
    assert "not the organizer token" in at.error[0].value


def test_organizer_teams_tokens_phase_blind_reveal_dates(app_factory, store):
    at = _org(app_factory(), store.set_organizer_token())
    at.text_input(key="org_team_name").input("beta").run()
    at.button(key="org_team_add").click().run()
    token = at.code[0].value
    assert store.team_for_token(token).name == "beta"
    at.selectbox(key="org_team_pick").select("beta").run()
    at.button(key="org_team_revoke").click().run()
    assert store.team_for_token(token) is None
    assert store.teams().set_index("name").loc["beta", "revoked"]
    at.button(key="org_team_token").click().run()
    new = [c.value for c in at.code if c.value.startswith("tb_")][-1]
    assert store.team_for_token(new).name == "beta"

    at.button(key="org_blind").click().run()
    assert is_blind(store)
    at.button(key="org_reveal").click().run()
    assert current_phase(store) == "final" and not is_blind(store)
    import datetime as dt

    at.date_input(key="org_date_public_end").set_value(dt.date(2026, 12, 24)).run()
    at.button(key="org_dates").click().run()
    assert phase_dates(store) == {"public_end": "2026-12-24"}
    log = store.audit_log()
    assert list(log["action"])[::-1] == ["team add", "team revoke", "team token", "blind", "reveal", "dates"]
    assert (log["actor"] == "organizer").all()
    assert token not in " ".join(log["detail"]) and new not in " ".join(log["detail"])
    # the Leaderboard page announces the date
    at.sidebar.radio(key="page").set_value("Leaderboard").run()
    assert any("public phase closes: 2026-12-24" in shown(c) for c in at.caption)


def test_rescore_all_after_a_truth_fix_writes_the_audit_log(params, store, picks_file, dataset, tmp_path):
    truth = tmp_path / "truth"
    shutil.copytree(dataset / "private" / "test", truth)
    params = params.model_copy(update={"private_truth_dir": str(truth)})
    token = store.add_team("alpha")
    sub_id = submit(store, params, Upload(token, "m", "p.csv", picks_file.read_bytes())).submission_id
    locations = truth / "tomo_000" / "particle_locations.txt"       # the fix: tomo_000's particles all 3qm1
    locations.write_text("\n".join(" ".join(["3qm1"] + ln.split()[1:])
                                   for ln in locations.read_text().splitlines()) + "\n")
    statuses, changes = rescore_all(store, params, "organizer")
    assert statuses == [(sub_id, "ok")]
    expected = scoring.score_file(picks_file, truth)
    assert set(changes["phase"]) == {"public", "final"}          # tomo_000 is in both phases
    final = changes.set_index("phase").loc["final"]
    assert final["f1_after"] == pytest.approx(expected["f1"])
    per_class = store.results("demo", "final").loc[0, "per_class_f1"]
    assert per_class == pytest.approx({c: v["f1"] for c, v in expected["per_class"].items()})
    entry = store.audit_log().iloc[0]
    assert entry["action"] == "rescore" and "1 of 1 submissions re-scored" in entry["detail"]
    assert f"#{sub_id} final F1 {final['f1_before']:.4f} -> {final['f1_after']:.4f}" in entry["detail"]
    statuses, changes = rescore_all(store, params, "organizer")     # again: nothing moves
    assert changes.empty and "0 score(s) changed" in store.audit_log().iloc[0]["detail"]


def test_organizer_export_downloads_every_submission(app_factory, store, dataset):
    at = _org(app_factory(), store.set_organizer_token())
    buttons = [el for el in at.main if getattr(el, "type", None) == "download_button"] or \
        [el for el in at.get("download_button")]
    assert len(buttons) == 2
    # the download content is the export table: both phases of both pipeline baselines
    from leaderboard.exchange import export_table

    table = export_table(store, "demo", ["public", "final"])
    assert len(table) == 4 and set(table["method"]) == {"dog", "tm"}
    back = pd.read_csv(io.StringIO(table.to_csv(index=False)))
    assert list(back["rank"]) == [1, 2, 1, 2]


def test_charts_page_through_every_rank(store, params):
    rows = []
    for i in range(60):
        sub = Submission(f"m{i}", "demo", team_id=None, is_baseline=True, source="pipeline")
        f1 = i / 100
        store.add_submission(sub, {"final": ({"f1": f1, "per_class": {"a": {"f1": f1}}}, {"f1": f1})})
        rows.append(f1)
    results = store.results("demo", "final")
    assert charts.rank_pages(60) == [(1, 25), (26, 50), (51, 60)]
    last = charts.per_class_long(results, 10, 50)
    assert sorted(last["f1"]) == pytest.approx(sorted(rows)[:10])       # ranks 51-60: the ten lowest F1
    assert charts.per_class_long(results, 25, 0)["f1"].min() == pytest.approx(0.35)


def test_leaderboard_page_pages_the_charts(app_factory, store):
    for i in range(30):
        store.add_submission(Submission(f"m{i}", "demo", is_baseline=True, source="pipeline"),
                             {"public": ({"f1": 0.01 * i, "per_class": {"1s3x": {"f1": 0.5}}}, {"f1": 0.01 * i})})
    at = app_factory()
    box = at.selectbox(key="chart_ranks")
    assert box.options == ["1-25", "26-32"]
    box.select("26-32").run()
    assert not at.exception
    assert any("ranks 26-32 of 32" in h.value for h in at.subheader)


def test_small_defects(app_factory, store, picks_file, params):
    """Run time: only rows with a time; blind table: baselines' team is 'baseline'; user text literal."""
    token = store.add_team("alpha")
    submit(store, params, Upload(token, "no time", "p.csv", picks_file.read_bytes()))
    at = app_factory()
    timing = [df.value for df in at.dataframe if "wall_s" in df.value.columns][0]
    assert sorted(timing["method"]) == ["dog", "tm"]                  # the upload without a run time: no row
    from leaderboard.phases import set_blind

    set_blind(store, True)
    at = app_factory()
    blind = [df.value for df in at.dataframe if "team" in df.value.columns][0]
    assert "None" not in set(blind["team"].astype(str)) and set(blind["team"]) == {"baseline", "alpha"}
    set_blind(store, False)
    at = app_factory("Submit")
    data = b"class,x,y,z,tomo\n**bold** [link](http://x) $x$ <b>h</b> :red[r],1,2,3,tomo_000\n"
    _fill_and_submit(at, token, "m", "p.csv", data)
    raw = at.error[0].value
    assert "\\*\\*bold\\*\\*" in raw and "\\[link\\]" in raw and "\\$x\\$" in raw and "\\<b\\>" in raw
    assert "**bold** [link](http://x) $x$ <b>h</b> :red[r]" in shown(at.error[0])
