"""Sources: PDB download from a local HTTP server with cache, offline errors, folders, maps."""

import functools
import gzip
import http.server
import threading

import mrcfile
import numpy as np
import pytest
from structures_toys import BIOMT_C2, toy_pdb

from generator.structures.build import build_library_report
from generator.structures.params import StructureParams
from generator.structures.sources import fetch_pdb, folder_sources, read_structure_file, resolve_sources
from tomobench.errors import InputError
from tomobench.params import load_section
from tomobench.presets import repo_params_file


@pytest.fixture
def pdb_server(tmp_path):
    """A file server on 127.0.0.1 holding 9xyz.pdb.gz; yields (url template, request log)."""
    root = tmp_path / "www"
    root.mkdir()
    with gzip.open(root / "9xyz.pdb.gz", "wt") as fh:
        fh.write(toy_pdb(chains="AB", remark350=BIOMT_C2))
    log = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            log.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{{id}}.pdb.gz", log
    server.shutdown()
    server.server_close()


def test_download_then_cache(tmp_path, pdb_server):
    url, log = pdb_server
    cache = tmp_path / "cache"
    path = fetch_pdb("9XYZ", cache, url_template=url)
    assert path == cache / "9xyz.pdb.gz" and path.is_file()
    assert len(read_structure_file(path)[0]) == 2                       # two chains
    assert len(log) == 1
    again = fetch_pdb("9xyz", cache, url_template=url)                 # from the cache: no request
    assert again == path and len(log) == 1
    # the id source builds the biological assembly (two copies of two chains)
    lib = build_library_report(StructureParams(source="9xyz", cache_dir=str(cache), pdb_url=url,
                                               voxel_size_a=6.0)).library
    assert lib.classes.names == ["9xyz"] and lib.classes.row("9xyz")["pdb_id"] == "9xyz"


def test_missing_entry_and_offline_name_the_cache(tmp_path, pdb_server):
    url, _ = pdb_server
    cache = tmp_path / "cache"
    with pytest.raises(InputError, match=r"could not download PDB entry 8abc.*place 8abc\.cif\.gz"):
        fetch_pdb("8abc", cache, url_template=url)
    assert not list(cache.glob("*.part"))
    with pytest.raises(InputError, match=f"offline.*{cache}"):
        fetch_pdb("8abc", cache, url_template=url, offline=True)
    with pytest.raises(InputError, match="not 'builtin', an existing folder"):
        resolve_sources("not-an-id", cache_dir=cache, url_template=url, offline=True)


def _write_map(path, data, voxel):
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.asarray(data, np.float32))
        mrc.voxel_size = voxel


def test_folder_sources_prefer_models_over_maps(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "toy.pdb").write_text(toy_pdb())
    _write_map(tmp_path / "toy.mrc", np.zeros((8, 8, 8)), 5.0)
    _write_map(tmp_path / "blob.mrc", np.zeros((8, 8, 8)), 5.0)
    (tmp_path / "notes.txt").write_text("ignored")
    sources = folder_sources(tmp_path)
    assert [(s.name, s.kind) for s in sources] == [("blob", "map"), ("toy", "model")]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no structure files"):
        folder_sources(tmp_path / "empty")


def test_map_source_mass_centre_and_units(tmp_path):
    # the template of an atomic model, shifted off-centre and written as a map at 5 Å
    models = tmp_path / "models"
    models.mkdir()
    (models / "toy.pdb").write_text(toy_pdb(n_residues=12, chains="ABCD"))
    params = StructureParams(source=str(models), voxel_size_a=5.0)
    ref = build_library_report(params).library
    template = ref.templates["toy"]
    maps = tmp_path / "maps"
    maps.mkdir()
    shifted = np.roll(np.pad(template, 6), (2, -3, 1), axis=(0, 1, 2)) * 37.0     # arbitrary units
    _write_map(maps / "toymap.mrc", shifted, 5.0)
    mass = float(ref.classes.row("toy")["mass_kda"])
    (maps / "toymap.mass_kda.txt").write_text(f"{mass}\n")
    lib = build_library_report(StructureParams(source=str(maps), voxel_size_a=5.0)).library
    got = lib.templates["toymap"]
    assert float(lib.classes.row("toymap")["mass_kda"]) == pytest.approx(mass)
    # centred on n // 2 again and scaled to volts: same integral per dalton as average protein (within 15 %)
    n = got.shape[0]
    assert np.unravel_index(got.argmax(), got.shape) == pytest.approx(
        tuple(np.array(np.unravel_index(template.argmax(), template.shape)) - template.shape[0] // 2 + n // 2), abs=1)
    assert got.sum() == pytest.approx(template.sum(), rel=0.15)
    # without a stated mass it is estimated from the envelope: same order of magnitude
    (maps / "toymap.mass_kda.txt").unlink()
    est = build_library_report(StructureParams(source=str(maps), voxel_size_a=5.0)).library
    assert 0.3 * mass < float(est.classes.row("toymap")["mass_kda"]) < 3 * mass


def test_map_without_voxel_size_is_refused(tmp_path):
    with mrcfile.new(tmp_path / "bad.mrc") as mrc:
        mrc.set_data(np.ones((6, 6, 6), np.float32))
    with pytest.raises(InputError, match="no voxel size"):
        build_library_report(StructureParams(source=str(tmp_path)))


def test_single_file_source(tmp_path):
    path = tmp_path / "one.pdb"
    path.write_text(toy_pdb(chains="A"))
    sources = resolve_sources(str(path), cache_dir=tmp_path, url_template="http://127.0.0.1:9/{id}", offline=True)
    assert [(s.name, s.kind, s.path) for s in sources] == [("one", "model", path)]


def test_params_defaults_are_the_default_preset():
    """StructureParams() is params.yaml's `structures` section (cache_dir included: data/cache/structures,
    outside the data/structures stage output)."""
    assert load_section(repo_params_file(), "structures", StructureParams) == StructureParams()


BIOMT_MONOMER = """REMARK 350 BIOMOLECULE: 1
REMARK 350 APPLY THE FOLLOWING TO CHAINS: A
REMARK 350   BIOMT1   1  1.000000  0.000000  0.000000        0.00000
REMARK 350   BIOMT2   1  0.000000  1.000000  0.000000        0.00000
REMARK 350   BIOMT3   1  0.000000  0.000000  1.000000        0.00000
"""


def test_assembly_is_chosen_per_class(tmp_path):
    # two files whose first biological assembly is chain A alone (as 3gl1 and 3d2f): per class,
    # 'asymmetric' keeps both chains for one of them, the other keeps the global choice
    for name in ("aaa", "bbb"):
        (tmp_path / f"{name}.pdb").write_text(toy_pdb(n_residues=8, chains="AB", remark350=BIOMT_MONOMER))
    lib = build_library_report(StructureParams(source=str(tmp_path), voxel_size_a=5.0, pictures=False,
                                               assemblies={"bbb": "asymmetric"})).library
    mass = {n: float(lib.classes.row(n)["mass_kda"]) for n in ("aaa", "bbb")}
    assert mass["bbb"] == pytest.approx(2 * mass["aaa"], rel=1e-6)
    assert StructureParams(assemblies={"x": "1"}).assembly_of("x") == "1"
    assert StructureParams(assembly="asymmetric").assembly_of("y") == "asymmetric"
    with pytest.raises(InputError, match="ccc"):
        build_library_report(StructureParams(source=str(tmp_path), voxel_size_a=5.0, assemblies={"ccc": "asymmetric"}))
    with pytest.raises(InputError, match="map_single_body"):
        build_library_report(StructureParams(source=str(tmp_path), voxel_size_a=5.0, map_single_body=["aaa"]))


def _two_blobs(n: int, centres, radii) -> np.ndarray:
    z, y, x = np.indices((n, n, n), dtype=float)
    vol = np.zeros((n, n, n))
    for (cz, cy, cx), r in zip(centres, radii):
        vol += np.exp(-((z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2) / (2 * (r / 2.0) ** 2)) * 10.0
    return vol


def test_single_body_map_keeps_one_complex(tmp_path):
    # a map of two separate copies (like 4v94's two TRiC): with map_single_body the template is the
    # larger copy alone, centred on it, with about its mass; without, the centre falls between them
    from generator.structures.maps import largest_body

    vol = _two_blobs(40, [(20, 20, 11), (20, 20, 29)], [4.0, 3.5])
    one = largest_body(vol, 0.5)
    assert one[20, 20, 11] == vol[20, 20, 11] and one[20, 20, 29] == 0.0
    assert one[:, :, :18].sum() == pytest.approx(vol[:, :, :18].sum())          # its fringe stays with it
    assert np.array_equal(largest_body(_two_blobs(40, [(20, 20, 20)], [4.0]), 0.5),
                          _two_blobs(40, [(20, 20, 20)], [4.0]))
    _write_map(tmp_path / "pair.mrc", vol, 10.0)
    both = build_library_report(StructureParams(source=str(tmp_path), pictures=False)).library
    single = build_library_report(StructureParams(source=str(tmp_path), pictures=False,
                                                  map_single_body=["pair"])).library
    t_both, t_one = both.templates["pair"], single.templates["pair"]
    c = t_both.shape[0] // 2
    assert t_both[c, c, c] < 0.2 * t_both.max()                      # the centre between the copies is empty
    c1 = t_one.shape[0] // 2
    assert t_one[c1, c1, c1] == pytest.approx(t_one.max(), rel=0.05)  # one complex, centred on it
    m_both, m_one = (float(lib.classes.row("pair")["mass_kda"]) for lib in (both, single))
    ratio = (4.0 / 3.5) ** 3
    assert m_one == pytest.approx(m_both * ratio / (1 + ratio), rel=0.15)
