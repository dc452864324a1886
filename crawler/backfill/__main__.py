import sys

from crawler.backfill.cli import main

if __name__ == "__main__":
    sys.exit(main())
