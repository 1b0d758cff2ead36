"""The CSV reader's column-wise fast path gives the checked reader's result, and leaves it every odd file."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tomobench.errors import InputError
from tomobench.particles import _read_csv_checked, _read_csv_fast, read_particles

GOOD = "class,x,y,z,phi,theta,psi,score,tomo\nA,1.5,2,3,10,20,30,0.9,t1\n\nB, 4 ,5e1,-6,0,0,0,,t2\n"


def test_a_well_formed_file_takes_the_fast_path_with_the_same_frame(tmp_path):
    fast = _read_csv_fast(GOOD, 10)
    assert fast is not None
    pd.testing.assert_frame_equal(fast, _read_csv_checked(tmp_path / "p.csv", GOOD, 10), check_exact=True)
    assert fast["line"].tolist() == [2, 4]                  # the empty line 3 is skipped, lines keep their numbers
    assert fast["x"].tolist() == [1.5, 4.0] and fast["y"].tolist() == [2.0, 50.0]
    assert np.isnan(fast.loc[1, "score"]) and fast["tomo"].tolist() == ["t1", "t2"]


@pytest.mark.parametrize("text, message", [
    ("class,x,y,z\nA,1,2,3\nB,abc,2,3\n", "line 3: x is 'abc', not a number"),
    ("class,x,y,z\nA,1,2,3\nB,1,2\n", "line 3: expected 4 fields"),
    ("class,x,y,z\nA,1,2,3\n,1,2,3\n", "line 3: the class is empty"),
    ("class,x,y,z\nA,1,2,inf\n", "line 2: z is 'inf'"),
    ("class,x,y,z,score\nA,1,2,3,nan\n", "line 2: score is 'nan'"),
    ("class,x,y,z\nA,1,2,3\nA,1,2,3\nA,1,2,3\n", "exceed the limit of 2"),
])
def test_a_bad_file_leaves_the_fast_path_and_gets_the_checked_readers_message(tmp_path, text, message):
    assert _read_csv_fast(text, 2) is None
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        read_particles(path, max_picks=2)


def test_blank_lines_of_spaces_or_commas_are_left_to_the_checked_reader(tmp_path):
    text = "class,x,y,z\nA,1,2,3\n   \n,,,\nB,4,5,6\n"
    assert _read_csv_fast(text, 10) is None
    assert _read_csv_checked(tmp_path / "p.csv", text, 10)["line"].tolist() == [2, 5]


_SPACE = st.sampled_from(["", " ", "\t", "\xa0", "\u2003", "\x1c"])
_NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-10**6, 10**6).map(str),
                    st.sampled_from(["", "abc", "1e400", "1_0", "0x10", "-0", ".5", "5."]))
_FIELD = st.tuples(_SPACE, _NUMBER, _SPACE).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from(["A", " B ", "", "unknown"]), _FIELD, _FIELD, _FIELD, _FIELD,
                               st.sampled_from(["t1", "", " t2"])), max_size=8),
       blank=st.lists(st.integers(0, 8), max_size=3))
def test_fast_path_equals_the_checked_reader_whenever_it_answers(tmp_path, rows, blank):
    lines = ["class,x,y,z,score,tomo"] + [",".join(r) for r in rows]
    for at in blank:
        lines.insert(min(at + 1, len(lines)), "")
    text = "\n".join(lines) + "\n"
    fast = _read_csv_fast(text, 5)
    try:
        checked = _read_csv_checked(tmp_path / "p.csv", text, 5)
    except InputError:
        assert fast is None                                 # what the checked reader refuses, the fast path leaves
        return
    if fast is not None:
        pd.testing.assert_frame_equal(fast, checked, check_exact=True)


_FINITE = st.one_of(st.floats(allow_nan=False, allow_infinity=False).map(repr), st.integers(-10**9, 10**9).map(str))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from(["A", " B ", "unknown"]), *[st.tuples(_SPACE, _FINITE, _SPACE).map(
    "".join)] * 3, st.one_of(st.just(""), _FINITE), st.sampled_from(["t1", "", " t2"])), min_size=1, max_size=20))
def test_well_formed_files_take_the_fast_path_with_identical_values(tmp_path, rows):
    if any("\x1c" in field for row in rows for field in row[1:4]):
        rows = [tuple(f.replace("\x1c", " ") for f in row) for row in rows]     # float() keeps \x1c: not well formed
    text = "\n".join(["class,x,y,z,score,tomo"] + [",".join(r) for r in rows]) + "\n"
    fast = _read_csv_fast(text, 100)
    assert fast is not None
    pd.testing.assert_frame_equal(fast, _read_csv_checked(tmp_path / "p.csv", text, 100), check_exact=True)
