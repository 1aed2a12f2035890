import sys

from apkshim.cli import main

sys.exit(main())
