"""The project's settings with the three origins on a local mirror (`DW_README_ORIGIN`) and
AutoThrottle off: how tests/test_readme.py runs the README's cron lines as written, through
`SCRAPY_SETTINGS_MODULE`, without contacting DW."""

import os

from crawler.settings import *  # noqa: F403

DW_ORIGIN = DW_SHORTLINK_ORIGIN = DW_FEED_ORIGIN = os.environ["DW_README_ORIGIN"]
AUTOTHROTTLE_ENABLED = False
