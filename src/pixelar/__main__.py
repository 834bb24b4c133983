"""``python -m pixelar``: the ``pixelar`` command (also what ``torchrun -m pixelar`` runs)."""

import sys

from pixelar.cli import main

if __name__ == "__main__":
    sys.exit(main())
