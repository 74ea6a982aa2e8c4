import sys

from qemuwrap.cli import main

sys.exit(main())
