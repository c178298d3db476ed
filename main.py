"""Start the SAM annotator from a checkout: ``python main.py [FOLDER]`` opens the GUI, ``python main.py COMMAND``
runs a headless command (see :mod:`annotator.launcher`; installed, the same is ``sam-annotator``)."""

import sys

from annotator.launcher import main

if __name__ == "__main__":
    sys.exit(main())
