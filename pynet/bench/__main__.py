"""`python -m pynet.bench echo ...`: see pynet.bench.echo."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
