"""``python -m agent``: the same commands as ``otc-agent``."""

import sys

from agent.cli import main

sys.exit(main())
