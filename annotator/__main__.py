"""``python -m annotator [FOLDER | COMMAND ...]``: the same as the ``sam-annotator`` command."""

import sys

from annotator.launcher import main

if __name__ == "__main__":
    sys.exit(main())
