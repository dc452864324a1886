"""Discovery: what sitemaps and feeds list, the dates they give, and why a request failed.

Plain functions, no Scrapy requests: `read_listing(bytes) -> Listing` (`listings`),
`newest(dates) -> Reading` (`dates`), `failure_reason(failure) -> str`, `failure_detail`
(`failures`). The spider (`crawler/spiders/dw.py`) turns their results into requests.
"""

from crawler.dates import Reading, UnknownZone, newest, utc_stamp
from crawler.discovery.failures import failure_detail, failure_reason
from crawler.discovery.listings import (
    DamagedGzip,
    Entry,
    Listing,
    NotReadable,
    PackedEntries,
    TooLarge,
    read_listing,
)

__all__ = ["DamagedGzip", "Entry", "Listing", "NotReadable", "PackedEntries", "Reading", "TooLarge",
           "UnknownZone", "failure_detail", "failure_reason", "newest", "read_listing", "utc_stamp"]
