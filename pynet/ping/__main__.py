"""python -m pynet.ping [options] HOST"""

import sys

from . import main

sys.exit(main())
