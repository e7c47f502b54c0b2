import sys

from scalerd.cli import main

sys.exit(main())
