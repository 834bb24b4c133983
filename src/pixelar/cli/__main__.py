"""``python -m pixelar.cli``: the same as ``python -m pixelar``."""

import sys

from pixelar.cli import main

if __name__ == "__main__":
    sys.exit(main())
