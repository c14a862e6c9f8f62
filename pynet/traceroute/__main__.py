"""python -m pynet.traceroute [options] HOST..."""

import sys

from . import main

sys.exit(main())
