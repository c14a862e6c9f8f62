"""python -m pynet.exporter [--listen HOST:PORT] [--config FILE]"""

import sys

from . import main

sys.exit(main())
