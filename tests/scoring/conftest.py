import pytest

from tomobench.classes import ClassTable
from tomobench.testing import write_sphere_truth

# A small, medium, large class and a vesicle that is not scored.
CLASS_TABLE = ClassTable.from_records([
    {"class_name": "A", "label": 1, "mass_kda": 100, "radius_nm": 2.0},
    {"class_name": "B", "label": 2, "mass_kda": 300, "radius_nm": 2.0},
    {"class_name": "D", "label": 3, "mass_kda": 1000, "radius_nm": 2.0},
    {"class_name": "vesicle", "label": 4, "kind": "vesicle"},
])

# id 1: A, id 2: B, id 3: A, id 4: vesicle, id 5: D
TRUTH_CLASSES = ["A", "B", "A", "vesicle", "D"]
TRUTH_CENTRES = [(8, 8, 8), (20, 8, 8), (8, 20, 20), (24, 24, 24), (20, 20, 8)]
TRUTH_RADII = [2, 2, 3, 3, 2]


@pytest.fixture
def truth_dir(tmp_path):
    return write_sphere_truth(tmp_path / "tomo_a", TRUTH_CLASSES, TRUTH_CENTRES, TRUTH_RADII,
                              class_table=CLASS_TABLE)


@pytest.fixture
def class_table():
    return CLASS_TABLE
