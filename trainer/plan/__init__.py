"""Planning a run before spending compute: `garden plan` (compute-optimal size and tokens,
batch, wall time, memory per GPU) and `garden ladder` (scaling laws fitted on small runs).

Everything here imports without torch; only the ladder's rungs (via `garden train`) need it.
"""
