import sys

from tomobench.cli import main

sys.exit(main())
