"""The simulated electron microscope: geometry, CTF, projection, dose and detector."""
