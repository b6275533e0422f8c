"""``atomicvad sweep``: notebook 05 once per seed, then notebook 06 (logic in ``course``)."""
from .course import add_sweep_arguments as add_arguments  # noqa: F401
from .course import sweep  # noqa: F401
