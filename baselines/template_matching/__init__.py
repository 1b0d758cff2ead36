"""Template matching baseline (SHREC 2020 TM-T / TM-F; pytom-match-pick as the modern reference).

Modules: :mod:`.so3` (angular sampling), :mod:`.templates` (CTF and missing-wedge
filters), :mod:`.correlation` (local normalised cross-correlation with torch FFTs),
:mod:`.peaks` (iterative arg-max with exclusion spheres), :mod:`.selection`
(TM-T, TM-F, false-alarm cut-off), :mod:`.matching` (one tomogram, all classes),
:mod:`.cli` (``tomobench baseline tm``).
"""
