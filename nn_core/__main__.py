import os
import sys

# BLAS reads its thread count once, when numpy is imported, so --threads is
# applied here, before the CLI (and numpy) load; argparse validates it later.
for index, argument in enumerate(sys.argv[:-1]):
    if argument == "--threads" and sys.argv[index + 1].isdigit():
        for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[variable] = sys.argv[index + 1]

from .cli import main  # noqa: E402

sys.exit(main())
