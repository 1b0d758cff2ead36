"""The rotation convention of tomobench, defined once.

Orientations are stored as ZXZ Euler angles ``(phi, theta, psi)`` in degrees,
the order of SHREC's ``particle_locations.txt``. The rotation matrix is

    R = Rz(phi) @ Rx(theta) @ Rz(psi)

with *active* right-handed rotations acting on column vectors ``(x, y, z)``.
``R`` takes a point of the class template (relative to the template centre)
to the tomogram: ``r_tomo = R @ r_template + centre``. So a particle is made by
rotating the template by ``R`` and placing it at its centre, and a picker that
finds ``R`` undoes it with ``R.T``.

RELION stores ZYZ angles ``(rot, tilt, psi)``. Its matrix ``A`` (``Euler_angles2matrix``
in RELION's ``euler.cpp``) is the reference-to-particle rotation: RELION's projector
samples the reference at ``A.T @ r`` for a point ``r`` of the particle, so the
particle is the reference turned by ``A``. In active form
``A = Rz(-psi) @ Ry(-tilt) @ Rz(-rot) = (Rz(rot) @ Ry(tilt) @ Rz(psi)).T``, hence

    R = A = Rotation.from_euler("ZYZ", [rot, tilt, psi]).inv()

(the conversion of copick's and teamtomo's RELION readers). The scipy ZYZ
matrix of RELION's angles is the *inverse* of the particle's rotation; see
docs/conventions.md, "Orientations and RELION".
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.spatial.transform import Rotation

# scipy: upper-case letters are intrinsic rotations, i.e. R = R1 @ R2 @ R3 for "ZXZ".
_ZXZ = "ZXZ"
_ZYZ = "ZYZ"


def _as_euler(matrices: np.ndarray, seq: str) -> np.ndarray:
    # At theta = 0 or 180 only phi + psi is defined; scipy warns and sets the third angle to 0,
    # which is a valid answer, so the warning is noise here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Gimbal lock detected")
        return Rotation.from_matrix(matrices.reshape(-1, 3, 3)).as_euler(seq, degrees=True)


def euler_to_matrix(phi_deg, theta_deg, psi_deg) -> np.ndarray:
    """ZXZ Euler angles (degrees) to rotation matrices ``R = Rz(phi) Rx(theta) Rz(psi)``.

    Parameters
    ----------
    phi_deg, theta_deg, psi_deg : float or array_like
        The ZXZ angles in degrees: scalars, or arrays broadcast to one shape ``(...)``, e.g. (N,).

    Returns
    -------
    numpy.ndarray
        ``(..., 3, 3)`` float: ``(3, 3)`` for scalars, ``(N, 3, 3)`` for arrays of length N.
        The matrices act on ``(x, y, z)`` column vectors.
    """
    angles = np.stack(np.broadcast_arrays(phi_deg, theta_deg, psi_deg), axis=-1).astype(float)
    return Rotation.from_euler(_ZXZ, angles.reshape(-1, 3), degrees=True).as_matrix().reshape(
        angles.shape[:-1] + (3, 3)
    )


def matrix_to_euler(matrix: np.ndarray) -> np.ndarray:
    """Rotation matrices to ZXZ Euler angles in degrees.

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(..., 3, 3)`` rotation matrices acting on ``(x, y, z)`` column vectors.

    Returns
    -------
    numpy.ndarray
        ``(..., 3)`` float ``(phi, theta, psi)`` in degrees: ``theta`` in [0, 180], ``phi`` and
        ``psi`` in (-180, 180]. At ``theta`` = 0 or 180 only ``phi + psi`` is defined; ``psi`` is 0.
    """
    matrix = np.asarray(matrix, dtype=float)
    return _as_euler(matrix, _ZXZ).reshape(matrix.shape[:-2] + (3,))


def relion_matrix(rot_deg, tilt_deg, psi_deg) -> np.ndarray:
    """RELION's ``Euler_angles2matrix``: the reference-to-particle rotation ``A``.

    Parameters
    ----------
    rot_deg, tilt_deg, psi_deg : float or array_like
        RELION's ZYZ angles in degrees: scalars, or arrays broadcast to one shape ``(...)``.

    Returns
    -------
    numpy.ndarray
        ``(..., 3, 3)`` float: ``(3, 3)`` for scalars, ``(N, 3, 3)`` for arrays of length N;
        ``A`` acts on ``(x, y, z)`` column vectors.
    """
    angles = np.stack(np.broadcast_arrays(rot_deg, tilt_deg, psi_deg), axis=-1).astype(float)
    # scipy's intrinsic ZYZ gives Rz(rot) Ry(tilt) Rz(psi); RELION's matrix is its inverse (transpose).
    matrix = Rotation.from_euler(_ZYZ, angles.reshape(-1, 3), degrees=True).inv().as_matrix()
    return matrix.reshape(angles.shape[:-1] + (3, 3))


def matrix_to_relion(matrix: np.ndarray) -> np.ndarray:
    """Reference-to-particle rotations to RELION ``(rot, tilt, psi)`` angles.

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(..., 3, 3)`` rotation matrices acting on ``(x, y, z)`` column vectors.

    Returns
    -------
    numpy.ndarray
        ``(..., 3)`` float ``(rot, tilt, psi)`` ZYZ angles in degrees, ``tilt`` in [0, 180].
    """
    matrix = np.asarray(matrix, dtype=float)
    inverse = np.swapaxes(matrix, -1, -2)
    return _as_euler(inverse, _ZYZ).reshape(matrix.shape[:-2] + (3,))


def zxz_to_relion(phi_deg, theta_deg, psi_deg) -> np.ndarray:
    """Tomobench ZXZ angles to RELION ``(rot, tilt, psi)`` ZYZ angles of the same particle rotation.

    ``relion_matrix(*zxz_to_relion(a).T) == euler_to_matrix(*a.T)``.

    Parameters
    ----------
    phi_deg, theta_deg, psi_deg : float or array_like
        The ZXZ angles in degrees, broadcast to one shape ``(...)``.

    Returns
    -------
    numpy.ndarray
        ``(..., 3)`` float ``(rot, tilt, psi)`` in degrees.
    """
    return matrix_to_relion(euler_to_matrix(phi_deg, theta_deg, psi_deg))


def relion_to_zxz(rot_deg, tilt_deg, psi_deg) -> np.ndarray:
    """RELION ``(rot, tilt, psi)`` ZYZ angles to tomobench ZXZ ``(phi, theta, psi)`` angles.

    Parameters
    ----------
    rot_deg, tilt_deg, psi_deg : float or array_like
        RELION's ZYZ angles in degrees, broadcast to one shape ``(...)``.

    Returns
    -------
    numpy.ndarray
        ``(..., 3)`` float ``(phi, theta, psi)`` in degrees.
    """
    return matrix_to_euler(relion_matrix(rot_deg, tilt_deg, psi_deg))


def random_rotations(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rotation matrices drawn uniformly from SO(3) (Haar measure).

    Parameters
    ----------
    n : int
        The number of rotations.
    rng : numpy.random.Generator
        The random source (3 n uniform draws).

    Returns
    -------
    numpy.ndarray
        ``(n, 3, 3)`` float rotation matrices acting on ``(x, y, z)`` column vectors.
    """
    # Shoemake: a uniformly distributed unit quaternion.
    u1, u2, u3 = rng.random((3, n))
    q = np.stack(
        [
            np.sqrt(1 - u1) * np.sin(2 * np.pi * u2),
            np.sqrt(1 - u1) * np.cos(2 * np.pi * u2),
            np.sqrt(u1) * np.sin(2 * np.pi * u3),
            np.sqrt(u1) * np.cos(2 * np.pi * u3),
        ],
        axis=-1,
    )
    return Rotation.from_quat(q).as_matrix()


def zyx_matrix(matrix_xyz: np.ndarray) -> np.ndarray:
    """The same rotation acting on ``(z, y, x)`` index vectors (array axis order).

    ``scipy.ndimage.affine_transform`` and friends work in array axis order; this
    reverses rows and columns so that ``M_zyx @ r[::-1] == (R @ r)[::-1]``.

    Parameters
    ----------
    matrix_xyz : numpy.ndarray
        ``(..., 3, 3)`` matrices acting on ``(x, y, z)`` column vectors.

    Returns
    -------
    numpy.ndarray
        ``(..., 3, 3)``: a reversed view of ``matrix_xyz``, acting on ``(z, y, x)``.
    """
    return np.asarray(matrix_xyz)[..., ::-1, ::-1]
