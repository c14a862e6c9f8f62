"""`python -m pynet.fping`."""

import sys

from . import main

sys.exit(main())
