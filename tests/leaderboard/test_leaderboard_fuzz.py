"""Fuzz (hypothesis): the particle-list readers and the submit path never fail with anything but a clear error.

The readers either return a particle list or raise :class:`InputError`; :func:`submit` either stores one
scored submission or raises :class:`Refused` (one paragraph) and leaves the store exactly as it was.
"""

from __future__ import annotations

import json
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_leaderboard_refusals import snapshot

from leaderboard.store import Refused
from leaderboard.submit import Upload, submit
from tomobench.errors import InputError
from tomobench.particles import PICK_COLUMNS, read_particles

NUMBERS = ["1", "2.5", "-3", "0", "1e308", "-1e308", "1e-320", "nan", "inf", "-inf", "abc", "", "1,5", "0x10",
           "1_000", "٣", "1e400", "  7  ", "'", '"']
CLASSES = ["1s3x", "3qm1", "4v94", "ribosome", "", "a b", "**x**", "<script>", "\x00", "é"]
TOMOS = ["tomo_000", "tomo_001", "tomo_002", "", "tomo_999"]
token = st.one_of(st.sampled_from(NUMBERS + CLASSES + TOMOS), st.text(max_size=8))
lines = st.lists(st.lists(token, min_size=0, max_size=9), max_size=12)


def _shrec(rows, sep=" "):
    return "\n".join(sep.join(r) for r in rows)


csv_text = st.builds(lambda head, rows: head + "\n" + _shrec(rows, ","),
                     st.sampled_from(["class,x,y,z", "class,x,y,z,tomo", "class,x,y,z,phi,theta,psi,score,tomo",
                                      "x,y,z", "class,x,y,z,x", '"class",x,y,z']), lines)
shrec_text = lines.map(_shrec)
star_text = st.builds(
    lambda cols, rows: "data_particles\n\nloop_\n" + "".join(f"_{c} #{i + 1}\n" for i, c in enumerate(cols))
    + _shrec(rows), st.lists(st.sampled_from(["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ", "rlnAngleRot",
                                               "rlnAngleTilt", "rlnAnglePsi", "rlnClassNumber", "rlnTomoName",
                                               "rlnAutopickFigureOfMerit"]), max_size=9), lines)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=False),
              st.sampled_from(NUMBERS + CLASSES)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(
        st.sampled_from(["points", "location", "x", "y", "z", "transformation_", "score", "pickable_object_name",
                         "run_name", "instance_id"]), inner, max_size=6)), max_leaves=30)
point = st.fixed_dictionaries({"location": st.fixed_dictionaries({c: json_values for c in "xyz"})},
                              optional={"transformation_": json_values, "score": json_values})
copick_doc = st.one_of(json_values, st.fixed_dictionaries(
    {"pickable_object_name": st.sampled_from(CLASSES), "run_name": st.sampled_from(TOMOS),
     "points": st.one_of(st.lists(point, max_size=4), json_values)}))
copick_text = st.one_of(copick_doc.map(json.dumps), st.text(max_size=40))
coordinate = st.floats(-5, 40).map(lambda v: f"{v:.2f}")
good_row = st.tuples(st.sampled_from(["1s3x", "3qm1", "4v94"]), coordinate, coordinate, coordinate,
                     st.sampled_from(["tomo_000", "tomo_001", "tomo_002"])).map(",".join)
valid_csv = st.builds(lambda rows, extra: "class,x,y,z,tomo\n" + "\n".join(rows + extra),
                      st.lists(good_row, min_size=1, max_size=20),
                      st.lists(st.lists(token, max_size=6).map(",".join), max_size=1))   # sometimes one bad row
FORMATS = {"shrec": (".txt", shrec_text), "csv": (".csv", csv_text), "star": (".star", star_text),
           "copick": (".json", copick_text)}
raw_bytes = st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode("utf-8", "replace")))
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])


@pytest.mark.parametrize("fmt", list(FORMATS))
@FUZZ
@given(data=st.data())
def test_readers_return_picks_or_raise_input_error(fmt, data, tmp_path):
    suffix, strategy = FORMATS[fmt]
    content = data.draw(st.one_of(strategy.map(lambda t: t.encode("utf-8", "surrogatepass")), raw_bytes))
    path = tmp_path / ("fuzz" + suffix)
    path.write_bytes(content)
    try:
        df = read_particles(path, fmt, voxel_size_a=10.0)
    except InputError as exc:
        assert str(path) in str(exc) and "Traceback" not in str(exc)
        return
    assert list(df.columns) == PICK_COLUMNS and len(df) > 0
    assert np.isfinite(df[["x", "y", "z"]].to_numpy(float)).all()


ACCEPTED: list[int] = []


@FUZZ
@given(data=st.data())
def test_submit_stores_a_scored_submission_or_refuses_storing_nothing(params, store, data):
    kind = data.draw(st.sampled_from(["valid csv", "valid csv", *FORMATS, "bytes", "any name"]))
    suffix, strategy = FORMATS.get(kind, (".csv", valid_csv))
    content = data.draw(raw_bytes if kind == "bytes" else strategy.map(lambda t: t.encode("utf-8", "surrogatepass")))
    name = data.draw(st.text(string.printable, max_size=12)) if kind == "any name" else "picks" + suffix
    tokens = store.read("SELECT COUNT(*) FROM teams")[0][0]
    token = store.add_team(f"team{tokens}")      # a fresh team: the daily limit never interferes
    before = snapshot(store)
    try:
        result = submit(store, params, Upload(token, "fuzz", name, content))
    except Refused as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
        assert params.data_dir not in message and "tomobench-upload-" not in message
        assert snapshot(store) == before
        return
    ACCEPTED.append(1)
    counts, _, _ = snapshot(store)
    assert counts["submissions"] == before[0]["submissions"] + 1
    assert set(result.reports) == {"public", "final"}
    sha = store.submissions().iloc[-1]["file_sha256"]
    assert store.file_path(sha).read_bytes() == content


def test_the_submit_fuzz_reached_acceptance_too():
    """The fuzz above is no test of refusals only: some of its files were scored and stored."""
    if not ACCEPTED:
        pytest.skip("run together with the submit fuzz test")
    assert len(ACCEPTED) >= 3
