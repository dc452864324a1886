"""The command `python -m crawler.reextract`: rebuild or mend the archive from WARC files.

The work is `crawler.warc.reextract` (with capture and reading, in the WARC package); this
module is only the command's name, kept as the README and cron lines spell it.
"""

import sys

from crawler.warc.reextract import main

if __name__ == "__main__":
    sys.exit(main())
