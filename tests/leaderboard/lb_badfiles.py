"""The bad uploads of issue 18 (each refused by the browser test, the AppTest and the submit tests)."""

from __future__ import annotations

import json

_STAR_HEAD = ("data_particles\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnCoordinateZ #3\n"
              "_rlnAngleRot #4\n_rlnAngleTilt #5\n_rlnAnglePsi #6\n_rlnTomoName #7\n")


def _copick(point: dict | None = None, points=None) -> bytes:
    doc = {"pickable_object_name": "1s3x", "run_name": "tomo_000",
           "points": [point] if points is None else points}
    return json.dumps(doc).encode()


# name -> (file name, bytes, words the refusal must contain, the line it must name or None)
BAD_FILES = {
    "one-line 5 MB CSV": ("p.csv", b"class,x,y,z\n1s3x," + b"9" * 5_000_000, "not a readable CSV line", 2),
    "200 kB field": ("p.csv", b"class,x,y,z,tomo\n1s3x,1,2,3,tomo_000\n1s3x,1,2,3," + b"t" * 200_000 + b"\n",
                     "field larger than field limit", 3),
    "coordinate 1e308": ("p.csv", b"class,x,y,z,tomo\n1s3x,1,2,3,tomo_000\n1s3x,4,1e308,3,tomo_000\n",
                         "y is 1e+308 voxels", 3),
    "copick bad transformation_": ("p.json", _copick({"location": {"x": 10, "y": 20, "z": 30},
                                                      "transformation_": [[1, 0], [0]]}),
                                   "points.0.transformation_", None),
    "copick text score": ("p.json", _copick({"location": {"x": 10, "y": 20, "z": 30}, "score": "high"}),
                          "points.0.score: Input should be a valid number", None),
    "copick points: 5": ("p.json", _copick(points=5), "points: Input should be a valid list", None),
    "200,000-deep JSON": ("p.json", b"[" * 200_000 + b"]" * 200_000, "nested too deeply", None),
    "STAR non-numeric angles": ("p.star", (_STAR_HEAD + "1 2 3 a b c tomo_000\n").encode(),
                                "is missing, not a number or not finite", None),
    "refused file type": ("picks.exe", b"class,x,y,z\n1s3x,1,2,3\n", "unsupported file type '.exe'", None),
}
